"""Recovery from blindness: while Prometheus or the API server cannot be read, the loop probes
the missing dependency cheaply every poll interval, and sight is restored, with a full cycle,
within one poll interval of the dependency coming back; the back-off only spaces out the full
cycles that fail. Driven on a manual clock through ``poll_forever``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pytest

from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.loop_memory import Health
from claudescale.errors import MetricsUnavailable, Unavailable
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness, ScriptedHarness

INTERVAL_S = 15.0
"""The default poll interval; the default back-off grows to 120 s."""


class Outage(ScriptedCluster):
    """The scripted cluster, with Prometheus or the API server away until a given time."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.clock = clock
        self.metrics_back_at = -math.inf
        self.api_back_at = -math.inf
        self.probes = 0
        self.cycles_while_away = 0
        self.seen_again = anyio.Event()
        self._probing = False

    def away(self) -> bool:
        now = self.clock.now()
        return now < self.metrics_back_at or now < self.api_back_at

    async def list_workloads(self) -> Sequence[WorkloadState]:
        if self.clock.now() < self.api_back_at:
            if not self._probing:
                self.cycles_while_away += 1
            raise Unavailable("The API server answered 503 while listing Deployments in shop.")
        return await super().list_workloads()

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        if self.clock.now() < self.metrics_back_at:
            if not self._probing:
                self.cycles_while_away += 1
            raise MetricsUnavailable("Prometheus at http://127.0.0.1:1 could not be reached.")
        readings = await super().cpu(workloads)
        if not self._probing and workloads:
            self.seen_again.set()
        return readings

    async def probe(self) -> None:
        self.probes += 1
        self._probing = True
        try:
            await super().probe()
        finally:
            self._probing = False


async def run_through_outage(
    tmp_path: Path, *, metrics_s: float = 0.0, api_s: float = 0.0
) -> tuple[ScriptedHarness, Outage, float, float]:
    """Run ``poll_forever`` from the start of an outage until the loop reads both again;
    returns the harness, the outage's start and the clock time its dependency came back."""
    w = Harness.scripted(tmp_path, cpu=50.0, cluster_type=Outage)
    cluster = w.cluster
    assert isinstance(cluster, Outage)
    start = w.clock.now()
    cluster.metrics_back_at = start + metrics_s if metrics_s else -math.inf
    cluster.api_back_at = start + api_s if api_s else -math.inf
    async with w.running():
        controller = w.controller()
        async with anyio.create_task_group() as tg:
            await tg.start(controller.poll_forever)
            with anyio.fail_after(10):
                await cluster.seen_again.wait()
            tg.cancel_scope.cancel()
    assert controller.health is Health.SEEING
    return w, cluster, start, start + max(metrics_s, api_s)


def restored_at(w: ScriptedHarness, start: float) -> float:
    (restored,) = w.records("sight_restored")
    return start + float(restored["blind_for_s"])


@pytest.mark.parametrize("outage", [{"metrics_s": 55.0}, {"api_s": 55.0}, {"metrics_s": 130.0}])
async def test_sight_is_restored_within_one_poll_interval_of_the_dependency_coming_back(
    tmp_path: Path, outage: dict[str, float]
) -> None:
    w, _, start, back_at = await run_through_outage(tmp_path, **outage)
    assert back_at <= restored_at(w, start) <= back_at + INTERVAL_S
    assert len(w.records("blind")) == 1


async def test_the_back_off_spaces_out_full_cycles_but_the_probes_run_every_interval(
    tmp_path: Path,
) -> None:
    w, cluster, start, back_at = await run_through_outage(tmp_path, metrics_s=600.0)
    # Full cycles at 0, 15, 45, 105, 225, 345, 465 and 585 s (doubling up to 120 s) ...
    assert cluster.cycles_while_away == 8
    # ... and a cheap probe at every other interval in between, until one succeeds.
    assert cluster.probes >= 600.0 / INTERVAL_S - 8
    assert back_at <= restored_at(w, start) <= back_at + INTERVAL_S
