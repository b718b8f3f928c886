"""The burst benchmark's bookkeeping: every proposal of the burst is carried out and written
once, on its own workload, whatever the bound; the report names each bound's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.executor_burst import RoundTripCluster, burst, section
from claudescale.core.values import WorkloadRef


@pytest.mark.parametrize("slots", [1, 3])
async def test_a_burst_writes_each_workload_once_and_counts_every_proposal(
    tmp_path: Path, slots: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[tuple[WorkloadRef, int]] = []
    scale = RoundTripCluster.scale

    async def counted(self: RoundTripCluster, ref: WorkloadRef, replicas: int, rv: str) -> str:
        writes.append((ref, replicas))
        return await scale(self, ref, replicas, rv)

    monkeypatch.setattr(RoundTripCluster, "scale", counted)
    run = await burst(7, 0.001, slots, tmp_path)
    assert run["proposals"] == 7
    assert run["max_concurrent_actions"] == slots
    assert run["proposals_per_s"] == pytest.approx(7 / run["seconds_to_last_verdict"], rel=0.05)
    assert sorted(writes) == [(WorkloadRef("burst", f"web-{i:05d}"), 5) for i in range(7)]


def test_the_report_gives_each_bound_and_the_speed_up() -> None:
    results = {
        "machine": "x86_64",
        "date": "2026-12-01",
        "workloads": 300,
        "round_trip_ms": 5.0,
        "runs": [
            {"max_concurrent_actions": 1, "seconds_to_last_verdict": 6.0, "proposals_per_s": 50.0},
            {"max_concurrent_actions": 16, "seconds_to_last_verdict": 1.5, "proposals_per_s": 200},
        ],
    }
    text = "\n".join(section(results))
    assert "| 1 | 6.0 | 50.0 |" in text
    assert "| 16 | 1.5 | 200 |" in text
    assert "4.0× faster" in text
