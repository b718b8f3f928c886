"""One workload as every proposer sees it in one cycle: the typed situation.

Layer: pure core. The poll loop computes a ``WorkloadSituation`` once per workload per cycle
(``summarise``) and hands the same values to every proposer: the rules read them directly,
a model gets them rendered by ``claudescale.core.prompt``. Nothing in a situation is trusted
later: the executor re-reads and re-measures before any change. This module does no I/O,
reads no clock (``now`` is handed in) and knows nothing of the settings file: the engine
works out the workload's ``Limits`` and passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from claudescale.core.limits import Limits
from claudescale.core.values import (
    Code,
    CpuReading,
    History,
    Outcome,
    Source,
    WorkloadRef,
    WorkloadState,
)


@dataclass(frozen=True, slots=True)
class LastDecision:
    """The loop's latest word on a workload, as of this cycle: a hold or a verdict."""

    outcome: Outcome
    code: Code
    source: Source
    age_s: float
    """Seconds since the decision, on the monotonic clock."""
    message: str
    """The decision's sentence, for people. Free text: never rendered for a model."""


@dataclass(frozen=True, slots=True)
class WorkloadSituation:
    """One workload in one cycle: what was read, what the guardrails allow, what was decided.

    ``limits`` are the workload's effective limits; when its ``claudescale.io/*`` annotations
    are invalid they are the configured defaults and ``limits_error`` says why, and the rules
    hold. Text fields (``uid``, ``owner``, ``overrides``, the reading's pod names,
    ``limits_error``, the last decision's message) come from the cluster or from earlier
    replies: a model sees none of them (see ``claudescale.core.prompt``).
    """

    ref: WorkloadRef
    uid: str
    replicas: int
    ready_pods: int
    unready_pods: int
    """Pods neither ready nor terminating."""
    paused: bool
    owner: str | None
    """Another autoscaler targeting this workload, e.g. ``HorizontalPodAutoscaler/web``."""
    rollout_in_progress: bool
    overrides: tuple[tuple[str, str], ...]
    limits: Limits
    limits_error: str | None
    reading: CpuReading
    trend_percent_per_min: float | None
    cooldown_up_remaining_s: float
    """Seconds until a scale-up would pass its cooldown (0: now)."""
    cooldown_down_remaining_s: float
    """Seconds until a scale-down would pass its cooldown (0: now)."""
    external_controller: bool
    last_decision: LastDecision | None = None


def cooldowns_remaining_s(history: History, limits: Limits, now: float) -> tuple[float, float]:
    """Seconds until a scale-up and a scale-down would pass the cooldown rules (0: now)."""
    up = down = 0.0
    if history.last_scale_up_at is not None:
        up = max(0.0, history.last_scale_up_at + limits.cooldown_up_s - now)
    if history.last_change_at is not None:
        down = max(0.0, history.last_change_at + limits.cooldown_down_s - now)
    return up, down


def summarise(
    state: WorkloadState,
    reading: CpuReading,
    *,
    limits: Limits,
    limits_error: str | None = None,
    trend_percent_per_min: float | None,
    history: History,
    now: float,
    last_decision: LastDecision | None = None,
) -> WorkloadSituation:
    """The situation of one workload from this cycle's read, its reading and its history.

    ``limits`` are the workload's effective limits (the defaults when ``limits_error`` says
    its annotations are invalid); ``now`` is monotonic seconds, the clock of ``history``.
    """
    up_s, down_s = cooldowns_remaining_s(history, limits, now)
    return WorkloadSituation(
        ref=state.ref,
        uid=state.uid,
        replicas=state.replicas,
        ready_pods=len(state.ready_pods),
        unready_pods=len(state.unready_pods),
        paused=state.paused,
        owner=state.owner,
        rollout_in_progress=state.rollout_in_progress,
        overrides=state.overrides,
        limits=limits,
        limits_error=limits_error,
        reading=reading,
        trend_percent_per_min=trend_percent_per_min,
        cooldown_up_remaining_s=round(up_s, 3),
        cooldown_down_remaining_s=round(down_s, 3),
        external_controller=history.external_controller,
        last_decision=last_decision,
    )
