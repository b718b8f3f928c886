"""CPU accounting: each workload's load over time and the CPU seconds its ready pods use.

Layer: sandbox. Counters are integrated lazily, per workload: ``account(key, t)`` runs before
anything changes that workload's ready pods or its load, so each stretch of time has one set
of ready pods and one load, and the integral is exact for constant phases. A schedule of
phase changes (from the sandbox file) is applied at its own times.
"""

from __future__ import annotations

from collections.abc import Sequence

from claudescale.sim.config import Phases, ScheduledLoad
from claudescale.sim.load import Load, enter, pod_cpu_seconds
from claudescale.sim.pods import PodController

WorkloadKey = tuple[str, str]


class CpuLedger:
    """Loads per workload and the CPU counters of their pods."""

    def __init__(
        self,
        phases: Phases,
        pods: PodController,
        started_s: float,
        schedule: Sequence[ScheduledLoad] = (),
    ) -> None:
        self.phases = phases
        self._pods = pods
        self._started_s = started_s
        self._loads: dict[WorkloadKey, Load] = {}
        self._accounted_to_s: dict[WorkloadKey, float] = {}
        self._schedule = sorted(schedule, key=lambda item: item.at_s)

    def load_of(self, key: WorkloadKey) -> Load:
        return self._loads.get(key) or Load("idle", self._started_s, 0.0)

    def demand_cores(self, key: WorkloadKey, now_s: float) -> float:
        return self.load_of(key).demand_cores(now_s, self.phases)

    def set_load(
        self, key: WorkloadKey, at_s: float, phase: str | None = None, cores: float | None = None
    ) -> Load:
        """Switch to a phase or a fixed demand at ``at_s``; ValueError for an unknown one."""
        self.account(key, at_s)
        load = enter(self._loads.get(key), at_s, self.phases, phase=phase, cores=cores)
        self._loads[key] = load
        return load

    def forget(self, key: WorkloadKey) -> None:
        self._loads.pop(key, None)

    def account(self, key: WorkloadKey, until_s: float) -> None:
        """Integrate one workload's counters up to ``until_s``."""
        start_s = self._accounted_to_s.get(key, self._started_s)
        if until_s <= start_s:
            return
        self._accounted_to_s[key] = until_s
        ready = [p for p in self._pods.pods.get(key, {}).values() if p.ready and not p.terminating]
        if not ready:
            return
        load = self.load_of(key)
        for pod in ready:
            pod.cpu_seconds += pod_cpu_seconds(
                load, start_s, until_s, self.phases, len(ready), pod.limit_cores
            )

    def account_all(self, until_s: float) -> None:
        for key in list(self._pods.pods):
            self.account(key, until_s)

    def next_schedule_s(self) -> float | None:
        return self._started_s + self._schedule[0].at_s if self._schedule else None

    def run_schedule(self, at_s: float) -> None:
        """Apply every scheduled change due by ``at_s``, each at its own time."""
        while self._schedule and self._started_s + self._schedule[0].at_s <= at_s:
            item = self._schedule.pop(0)
            namespace, _, name = item.workload.partition("/")
            self.set_load((namespace, name), self._started_s + item.at_s, item.phase, item.cores)
