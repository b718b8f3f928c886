"""Issue 9, point 12: a warming-up rate() is not a rising load.

Right after start (ours, or Prometheus's after an outage) ``rate()`` over a window that is not
yet full under-reads and then climbs to the true level. Read as a trend, that climb looked
like "rising 80 % per minute" and the look-ahead proposed scale-ups at idle, for every
workload at once. The trend must not count samples until a full rate window has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from claudescale.core.values import Action, CpuReading, PodState, WorkloadRef, WorkloadState
from claudescale.engine.loop_memory import WorkloadMemory
from claudescale.errors import MetricsUnavailable
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness

RATE_WINDOW_S = 30.0
"""A short window, as in the demo: its warm-up climbs 80 % per minute to a 40 % level."""
REFS = tuple(WorkloadRef("shop", f"web-{i}") for i in range(20))


def _state(ref: WorkloadRef, replicas: int) -> WorkloadState:
    pods = tuple(
        PodState(f"{ref.name}-{i}", ready=True, cpu_request_cores=0.25) for i in range(replicas)
    )
    return WorkloadState(ref=ref, uid="u", replicas=replicas, resource_version="1", pods=pods)


def _warming(t_s: float, level: float = 40.0) -> float:
    """What rate() shows for a flat ``level`` while its window fills after a start."""
    return level * min(1.0, t_s / RATE_WINDOW_S)


def test_the_first_rate_window_after_start_gives_no_trend() -> None:
    memory = WorkloadMemory()
    state = _state(REFS[0], 3)
    trends = [
        memory.note(
            state,
            CpuReading(_warming(t), age_s=1.0),
            1000.0 + t,
            rate_window_s=RATE_WINDOW_S,
            trend_window_s=180.0,
        )
        for t in range(0, int(RATE_WINDOW_S), 2)
    ]
    assert trends == [None] * len(trends)


async def test_a_flat_load_seen_through_a_warming_rate_window_proposes_no_scale_up(
    tmp_path: Path,
) -> None:
    h = Harness.scripted(
        tmp_path,
        mode="autonomous",
        replicas=3,
        cpu=0.0,
        refs=REFS,
        prometheus={"rate_window": "30s"},
        loop={"interval_s": 2.0},
    )
    started = h.clock.now()
    async with h.running() as executor:
        for ref in REFS:  # as after a restart: scale-downs wait, so the pods stay as they are
            executor.seed(ref, started)
        controller = h.controller()
        while h.clock.now() - started < RATE_WINDOW_S + 60.0:
            for ref in REFS:
                h.cluster.get(ref).cpu_percent = _warming(h.clock.now() - started)
            report = await controller.cycle()
            assert [p for p in report.submitted if p.action is Action.SCALE_UP] == []
            h.clock.advance(2.0)


class _Outage(ScriptedCluster):
    """CPU can be switched off, as while Prometheus is down."""

    down = False

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        if self.down:
            raise MetricsUnavailable("Prometheus is down (scripted)")
        return await super().cpu(workloads)


async def test_after_blindness_the_trend_waits_out_a_full_rate_window_again(
    tmp_path: Path,
) -> None:
    h = Harness.scripted(
        tmp_path,
        mode="autonomous",
        cpu=50.0,
        cluster_type=_Outage,
        prometheus={"rate_window": "30s"},
        loop={"interval_s": 2.0},
    )
    async with h.running():
        controller = h.controller()

        async def trend_after_cycle() -> float | None:
            await controller.cycle()
            h.clock.advance(2.0)
            (situation,) = controller.status().situations
            return situation.trend_percent_per_min

        trends = [await trend_after_cycle() for _ in range(25)]
        assert trends[-1] == 0.0  # settled: a flat 50 %
        h.cluster.down = True
        await controller.cycle()
        h.clock.advance(10.0)
        h.cluster.down = False
        after = [await trend_after_cycle() for _ in range(int(RATE_WINDOW_S / 2))]
    assert after[: int(RATE_WINDOW_S / 2) - 1] == [None] * (int(RATE_WINDOW_S / 2) - 1)
