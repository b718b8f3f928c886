"""What the poll loop knows: its health, its reports, and its memory of each workload.

Layer: orchestration support (no I/O, times handed in as monotonic seconds). Per workload the
loop remembers the recent CPU samples behind the trend, its last decision (a hold it made or
the executor's verdict), and when it may propose the same direction again after a refusal.
The executor keeps its own, authoritative memory (cooldowns, external changes); nothing here
can unlock a change, only hold one back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from claudescale.core.history import RATE_MEMORY_S
from claudescale.core.limits import Limits
from claudescale.core.situation import LastDecision, WorkloadSituation
from claudescale.core.trend import TrendFit
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Outcome,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)

TRANSIENT_CODES = frozenset({Code.OK, Code.STALE_PROPOSAL, Code.BUSY, Code.NOT_LEADER})
"""Verdicts after which the next cycle may propose again at once (its read will be fresh; a
follower that becomes the leader acts at its next cycle)."""


class Health(StrEnum):
    STARTING = "starting"
    """No cycle has seen the cluster and the metrics yet."""
    SEEING = "seeing"
    BLIND = "blind"
    """The last cycle could not read the cluster or the metrics; nothing is proposed."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The loop's latest word on a workload: a hold it made, or the executor's verdict."""

    ref: WorkloadRef
    at: float
    """Monotonic seconds."""
    outcome: Outcome
    code: Code
    message: str
    source: str
    from_replicas: int | None = None
    to_replicas: int | None = None

    def as_last(self, now: float) -> LastDecision:
        """This decision as a situation shows it ``now`` (monotonic seconds)."""
        return LastDecision(
            outcome=self.outcome,
            code=self.code,
            source=Source(self.source),
            age_s=round(now - self.at, 3),
            message=self.message,
        )


@dataclass(slots=True)
class WorkloadMemory:
    trend: TrendFit | None = None
    """Least-squares sums of complete, finite readings since the pods last changed: a
    bounded state updated once per reading, never refitted (``core.trend``)."""
    ready_pods: int = -1
    settled_at: float = 0.0
    state: WorkloadState | None = None
    last: Decision | None = None
    retry_at: dict[Action, float] = field(default_factory=dict)
    retry_replicas: int | None = None

    def note(
        self,
        state: WorkloadState,
        reading: CpuReading,
        now: float,
        *,
        rate_window_s: float,
        trend_window_s: float,
    ) -> float | None:
        """Remember this cycle's read; return the CPU trend in % per minute, if any."""
        self.state = state
        trend = self.trend
        if trend is None or trend.window_s != trend_window_s:
            trend = self.trend = TrendFit(trend_window_s)
        ready = len(state.ready_pods)
        if ready != self.ready_pods:
            # A rate window that spans a change of pods mixes two regimes: its slope would
            # measure our own scaling, not the load. And right after a start (ours, or
            # Prometheus's) rate() climbs while its window fills: a flat load would read as a
            # steep rise. Either way, start over once a full window has passed.
            trend.clear()
            self.ready_pods = ready
            self.settled_at = now + rate_window_s
        usable = reading.is_finite and not reading.missing_pods and now >= self.settled_at
        if usable and reading.percent is not None:
            trend.add(now, reading.percent)
        trend.expire(now)
        return trend.slope_percent_per_min()

    def restart_trend(self) -> None:
        """Forget the trend: the next reading starts over and waits out a full rate window
        (after blindness, Prometheus's rate() may be refilling its window)."""
        self.ready_pods = -1

    def may_propose(self, action: Action, replicas: int, now: float) -> bool:
        """False while a refusal of this direction stands and the replicas have not moved."""
        if self.retry_replicas != replicas:
            self.retry_at.clear()
        return now >= self.retry_at.get(action, now)

    def after_verdict(self, decision: Decision, action: Action, retry_after_s: float) -> None:
        """Remember a verdict; a refusal holds this direction back for ``retry_after_s``."""
        self.last = decision
        self.retry_at.clear()
        if decision.code in TRANSIENT_CODES:
            return
        self.retry_replicas = decision.from_replicas
        self.retry_at[action] = decision.at + retry_after_s


def forgettable(history: History, limits: Limits, now: float) -> bool:
    """True when the executor's memory of a workload that went away holds nothing that would
    still hold back a change if it came back: no cooldown, action within the hourly limit or
    counted reversion is recent enough to matter, and no operator's stop is set."""
    if history.external_controller:
        return False
    horizon_s = max(
        limits.cooldown_up_s, limits.cooldown_down_s, limits.reversion_window_s, RATE_MEMORY_S
    )
    times = (
        history.last_scale_up_at,
        history.last_change_at,
        *history.action_times,
        *history.reversion_times,
    )
    return all(t is None or now - t >= horizon_s for t in times)


@dataclass(frozen=True, slots=True)
class CycleReport:
    started_at: float
    health: Health
    next_delay_s: float
    workloads: int = 0
    submitted: tuple[Proposal, ...] = ()
    held: int = 0
    suppressed: int = 0
    """Proposals not submitted: one is in flight, or a refusal of that direction stands."""
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class LoopStatus:
    """What the health endpoint and the demo's view show."""

    health: Health
    cycles: int
    seen_cycles: int
    blind_since: float | None
    blind_reason: str | None
    situations: tuple[WorkloadSituation, ...]
    """What the proposers saw in the last seeing cycle, one per managed workload."""
    recent: tuple[Decision, ...]
    """The latest executor verdicts on the loop's proposals, oldest first."""
    in_flight: frozenset[WorkloadRef]


def cycle_record(
    states: Sequence[WorkloadState],
    readings: Mapping[WorkloadRef, CpuReading],
    report: CycleReport,
) -> dict[str, Any]:
    """The fields of the audit log's ``cycle`` record: what one cycle saw and did."""
    peak = max(
        (
            (percent, str(ref))
            for ref, reading in readings.items()
            if (percent := reading.percent) is not None and math.isfinite(percent)
        ),
        default=None,
    )
    return {
        "workloads": len(states),
        "replicas": sum(s.replicas for s in states),
        "cpu_peak_percent": None if peak is None else round(peak[0], 3),
        "cpu_peak_workload": None if peak is None else peak[1],
        "submitted": len(report.submitted),
        "held": report.held,
        "suppressed": report.suppressed,
    }
