"""The rules proposer: the deterministic policy as the poll loop asks it, with its memory.

Layer: orchestration (no I/O of its own). ``RulesProposer`` wraps
``claudescale.core.rules.propose_by_rules`` and never raises for a situation it is given.
With a clock it also remembers each workload between cycles
(``claudescale.engine.rules_memory``): it corrects a reading whose ``rate()`` window spans a
change of ready pods, and scales down only when every count it wanted within the scale-down
stabilisation window is lower (``claudescale.core.stabilisation``). Whatever it proposes is
still judged by the executor and the guardrails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from claudescale.config import Settings
from claudescale.config.groups import prometheus_duration_s
from claudescale.core.limits import Limits
from claudescale.core.rules import propose_by_rules
from claudescale.core.situation import WorkloadSituation
from claudescale.core.stabilisation import desired_replicas
from claudescale.core.values import (
    Action,
    CpuReading,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.rules_memory import RulesMemory, WorkloadRulesMemory
from claudescale.ports import Clock


class RulesProposer:
    """HPA-style proportional control on the situations; always the last proposer of a chain.

    Without a ``clock`` it answers each situation on its own (no correction for pod changes,
    no stabilisation window): for one-off answers and tests of the bare rules.
    """

    name = "rules"

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self._settings = settings
        self._clock = clock
        loop = settings.loop
        self._window_s = prometheus_duration_s(settings.prometheus.rate_window)
        self._stabilisation_s = loop.scale_down_stabilisation_s
        self._memory = RulesMemory(
            keep_s=max(self._window_s, self._stabilisation_s) + loop.interval_s
        )

    @property
    def remembered_workloads(self) -> int:
        """How many workloads the rules remember (those asked about within the windows)."""
        return len(self._memory)

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        if self._clock is None:
            return [self.propose_one(situation) for situation in situations]
        now = self._clock.now()
        proposals = [self.propose_one(situation, now=now) for situation in situations]
        self._memory.forget_unseen(now)
        return proposals

    def propose_one(self, situation: WorkloadSituation, *, now: float | None = None) -> Proposal:
        """The rules' proposal for one situation; ``now`` (monotonic seconds) lets them use and
        update what they remember of the workload."""
        if now is None:
            return self._propose(situation, None, now=0.0)
        memory = self._memory.of(situation.ref)
        memory.note_ready(situation.ready_pods, now, self._window_s)
        return self._propose(situation, memory, now=now)

    def _propose(
        self, situation: WorkloadSituation, memory: WorkloadRulesMemory | None, *, now: float
    ) -> Proposal:
        ref, replicas = situation.ref, situation.replicas
        if situation.limits_error:
            return _hold(
                ref,
                replicas,
                f"Holding at {replicas} replicas: the workload's claudescale.io annotations "
                f"are invalid ({situation.limits_error}).",
            )
        limits, reading = situation.limits, situation.reading
        state = WorkloadState(
            ref=ref,
            uid=situation.uid,
            replicas=replicas,
            resource_version="",
            ready_replicas=situation.ready_pods,
            paused=situation.paused,
        )
        if reading.pods_without_request:
            return _hold(
                ref,
                replicas,
                f"Holding at {replicas} replicas: ready pods "
                f"{', '.join(reading.pods_without_request[:2])} have no CPU request, so "
                "utilisation is undefined.",
            )
        loop = self._settings.loop
        prefix = ""
        if memory is not None and loop.pod_change_correction:
            reading, prefix = self._corrected(reading, memory, now)

        def rules(on: CpuReading) -> Proposal:
            return propose_by_rules(
                state,
                on,
                limits,
                target_cpu_percent=loop.target_cpu_percent,
                tolerance=loop.tolerance,
                trend_percent_per_min=situation.trend_percent_per_min,
                lookahead_s=loop.lookahead_s,
            )

        proposal = rules(reading)
        unready = situation.unready_pods
        if proposal.action is Action.SCALE_UP and unready > 0 and reading.percent is not None:
            # As the HPA does, pods that are not ready yet count at 0% for a scale-up: pods
            # that never become ready must not make every cooldown add more of them.
            ready = situation.ready_pods
            diluted = replace(reading, percent=reading.percent * ready / (ready + unready))
            proposal = rules(diluted)
            prefix += f"Counting {unready} pods that are not ready yet at 0%: "
        if memory is not None and self._stabilisation_s > 0:
            proposal = self._stabilised(proposal, reading, limits, memory, now)
        if prefix:
            proposal = replace(
                proposal, reason=_fit(prefix + proposal.reason, limits.reason_max_chars)
            )
        return proposal

    def _corrected(
        self, reading: CpuReading, memory: WorkloadRulesMemory, now: float
    ) -> tuple[CpuReading, str]:
        """The reading per pod of the present pods, and a sentence when it was corrected."""
        percent = reading.percent
        if percent is None or not reading.is_finite or reading.missing_pods:
            return reading, ""
        factor = memory.mix_factor(now, self._window_s)
        if abs(factor - 1.0) < MIX_FACTOR_IGNORED:
            return reading, ""
        corrected = percent / factor
        before, after = memory.pods[0][1], memory.pods[-1][1]
        return replace(reading, percent=corrected), (
            f"Reading CPU {percent:.1f}% as {corrected:.1f}% per pod: the "
            f"{self._window_s:g} s rate() window still spans the change from {before} to "
            f"{after} ready pods. "
        )

    def _stabilised(
        self,
        proposal: Proposal,
        reading: CpuReading,
        limits: Limits,
        memory: WorkloadRulesMemory,
        now: float,
    ) -> Proposal:
        """``proposal``, unless it is a scale-down while a count at least as high as the
        present one was wanted within the stabilisation window."""
        percent, replicas = reading.percent, proposal.from_replicas
        if percent is None or not reading.is_finite or reading.missing_pods or replicas is None:
            return proposal
        loop = self._settings.loop
        desired = desired_replicas(
            replicas,
            percent,
            target_cpu_percent=loop.target_cpu_percent,
            tolerance=loop.tolerance,
            min_replicas=limits.min_replicas,
            max_replicas=limits.max_replicas,
        )
        if proposal.action is Action.SCALE_UP:
            desired = max(desired, proposal.target_replicas)
        highest = memory.note_desired(desired, now, self._stabilisation_s)
        if proposal.action is not Action.SCALE_DOWN or highest is None or highest < replicas:
            return proposal
        return _hold(
            proposal.ref,
            replicas,
            f"Holding at {replicas} replicas: CPU {percent:.1f}% of requests is below the "
            f"{limits.scale_down_cpu_below_percent:g}% scale-down threshold, but the rules "
            f"wanted {highest} replicas within the last {self._stabilisation_s:g} s; they "
            "scale down only when every count wanted in that window (the scale-down "
            "stabilisation window) is lower.",
        )


MIX_FACTOR_IGNORED = 0.005
"""A correction of less than half a percent of the reading is left out (and not explained)."""


def _fit(reason: str, max_chars: int) -> str:
    return reason if len(reason) <= max_chars else reason[: max_chars - 1] + "…"


def _hold(ref: WorkloadRef, replicas: int, reason: str) -> Proposal:
    return Proposal(ref, Action.HOLD, replicas, reason, Source.RULES, from_replicas=replicas)
