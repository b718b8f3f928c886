"""The guardrails: ``evaluate(situation, proposal) -> Verdict``, every rule of DESIGN.md's table
that can be decided from state.

Layer: pure core. No I/O, no clock reads: time comes in as ``Situation.now`` (monotonic s).
The executor adds what only a write can tell (``conflict``, ``target_gone``, ``write_failed``,
``busy``) and the modes (``dry_run``); nothing the model says is trusted here, numbers come
from the executor's own fresh reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from claudescale.core.limits import Limits
from claudescale.core.messages import refused
from claudescale.core.reasons import reason_problem
from claudescale.core.risk import critical_match
from claudescale.core.utilisation import classify
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Proposal,
    Source,
    Verdict,
    WorkloadState,
    allow,
    hold,
)

RATE_WINDOW_S = 3600.0


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything a verdict depends on, as the executor freshly read it."""

    state: WorkloadState
    reading: CpuReading | None
    history: History
    limits: Limits
    now: float


Check = Callable[[Situation, Proposal], Verdict | None]


def evaluate(situation: Situation, proposal: Proposal) -> Verdict:
    """The first refusal among the checks, in order; a hold; or ``ok`` (go ahead and write)."""
    for check in CHECKS:
        verdict = check(situation, proposal)
        if verdict is not None:
            return verdict
    state = situation.state
    return allow(
        f"Allowed scaling {state.ref} {state.replicas}→{proposal.target_replicas}: "
        f"{proposal.reason.strip()}",
        state.replicas,
        proposal.target_replicas,
    )


def _refuse(situation: Situation, proposal: Proposal, code: Code, why: str) -> Verdict:
    state = situation.state
    return refused(code, state.ref, state.replicas, proposal.target_replicas, why)


def check_target(situation: Situation, proposal: Proposal) -> Verdict | None:
    state = situation.state
    if proposal.ref != state.ref:
        return _refuse(
            situation,
            proposal,
            Code.INVALID_TARGET,
            f"the proposal names {proposal.ref}, not this workload.",
        )
    if not state.managed:
        return _refuse(
            situation,
            proposal,
            Code.INVALID_TARGET,
            "the workload is not opted in to claudescale in a managed namespace.",
        )
    return None


def check_shape(situation: Situation, proposal: Proposal) -> Verdict | None:
    base = (
        proposal.from_replicas if proposal.from_replicas is not None else situation.state.replicas
    )
    target = proposal.target_replicas
    expected = (
        Action.SCALE_UP if target > base else Action.SCALE_DOWN if target < base else Action.HOLD
    )
    if proposal.action is not expected:
        return _refuse(
            situation,
            proposal,
            Code.INVALID_PROPOSAL,
            f"action {proposal.action.value} does not agree with going from {base} "
            f"to {target} replicas.",
        )
    return None


def check_fresh(situation: Situation, proposal: Proposal) -> Verdict | None:
    seen = proposal.from_replicas
    if seen is not None and seen != situation.state.replicas:
        return _refuse(
            situation,
            proposal,
            Code.STALE_PROPOSAL,
            f"the proposal was built when the workload had {seen} replicas; it now has "
            f"{situation.state.replicas}.",
        )
    return None


def check_reason(situation: Situation, proposal: Proposal) -> Verdict | None:
    problem = reason_problem(proposal.reason, situation.limits.reason_max_chars)
    if problem is not None:
        return _refuse(situation, proposal, Code.REASON_REQUIRED, problem)
    return None


def check_hold(situation: Situation, proposal: Proposal) -> Verdict | None:
    if proposal.action is Action.HOLD:
        state = situation.state
        return hold(
            f"Holding {state.ref} at {state.replicas}: {proposal.reason.strip()}", state.replicas
        )
    return None


def check_control(situation: Situation, proposal: Proposal) -> Verdict | None:
    """Someone else is in charge: the operator paused it, or another controller owns it."""
    state = situation.state
    if state.paused or state.replicas == 0:
        return _refuse(
            situation,
            proposal,
            Code.PAUSED,
            "the workload is paused (pause annotation or 0 replicas).",
        )
    if state.owner is not None:
        return _refuse(
            situation,
            proposal,
            Code.OWNERSHIP_CONFLICT,
            f"{state.owner} already scales this workload.",
        )
    if situation.history.external_controller:
        return _refuse(
            situation,
            proposal,
            Code.EXTERNAL_CONTROLLER,
            "someone else keeps reverting our changes; an operator must clear this first "
            f"(claudescale clear-external {state.ref}).",
        )
    return None


def check_critical(situation: Situation, proposal: Proposal) -> Verdict | None:
    state = situation.state
    limits = situation.limits
    if str(state.ref) in limits.critical_allow:
        return None
    pattern = critical_match(state.ref, limits)
    if pattern is not None:
        return _refuse(
            situation,
            proposal,
            Code.CRITICAL_WORKLOAD,
            f"the name matches the critical pattern {pattern!r}; an operator must "
            "allow-list it (guardrails.critical_allow).",
        )
    return None


def check_bounds(situation: Situation, proposal: Proposal) -> Verdict | None:
    limits = situation.limits
    target = proposal.target_replicas
    if target > limits.max_replicas:
        return _refuse(
            situation,
            proposal,
            Code.ABOVE_MAX,
            f"{target} is above the maximum of {limits.max_replicas} replicas.",
        )
    if target < limits.min_replicas:
        return _refuse(
            situation,
            proposal,
            Code.BELOW_MIN,
            f"{target} is below the minimum of {limits.min_replicas} replicas.",
        )
    if proposal.action is Action.SCALE_DOWN:
        step = situation.state.replicas - target
        if step > limits.max_step_down:
            return _refuse(
                situation,
                proposal,
                Code.STEP_TOO_LARGE,
                f"scale-down moves at most {limits.max_step_down} replica at a time, not {step}.",
            )
    return None


def check_cooldowns(situation: Situation, proposal: Proposal) -> Verdict | None:
    if proposal.source is Source.ROLLBACK:
        return None  # a human's rollback is never delayed by cooldowns (still bounded and CAS)
    history, limits, now = situation.history, situation.limits, situation.now
    if proposal.action is Action.SCALE_UP and history.last_scale_up_at is not None:
        since = now - history.last_scale_up_at
        if since < limits.cooldown_up_s:
            return _refuse(
                situation,
                proposal,
                Code.COOLDOWN_UP,
                f"the last scale-up was {since:.1f} s ago; scale-ups wait "
                f"{limits.cooldown_up_s:g} s.",
            )
    if proposal.action is Action.SCALE_DOWN and history.last_change_at is not None:
        since = now - history.last_change_at
        if since < limits.cooldown_down_s:
            return _refuse(
                situation,
                proposal,
                Code.COOLDOWN_DOWN,
                f"the last change was {since:.1f} s ago; scale-downs wait "
                f"{limits.cooldown_down_s:g} s after any change.",
            )
    return None


def check_rate(situation: Situation, proposal: Proposal) -> Verdict | None:
    recent = [t for t in situation.history.action_times if situation.now - t < RATE_WINDOW_S]
    limit = situation.limits.max_actions_per_hour
    if len(recent) >= limit:
        return _refuse(
            situation,
            proposal,
            Code.RATE_LIMITED,
            f"{len(recent)} actions in the last hour reach the limit of {limit}.",
        )
    return None


def check_metrics(situation: Situation, proposal: Proposal) -> Verdict | None:
    """We never change a workload we cannot see, in either direction."""
    reading = situation.reading
    if reading is None:
        reading = CpuReading(percent=None)
    problem = classify(reading, situation.limits, situation.state.ref)
    if problem is not None:
        code, sentence = problem
        return _refuse(situation, proposal, code, sentence)
    return None


def check_scale_down_safety(situation: Situation, proposal: Proposal) -> Verdict | None:
    if proposal.action is not Action.SCALE_DOWN:
        return None
    state = situation.state
    if state.rollout_in_progress:
        return _refuse(situation, proposal, Code.ROLLOUT_IN_PROGRESS, "a rollout is in progress.")
    unready = state.unready_pods
    if unready:
        return _refuse(
            situation,
            proposal,
            Code.PODS_NOT_READY,
            f"{len(unready)} pod(s) are not ready ({unready[0].name}).",
        )
    percent = situation.reading.percent if situation.reading is not None else None
    threshold = situation.limits.scale_down_cpu_below_percent
    if percent is None or not percent < threshold:
        shown = "no reading" if percent is None else f"{percent:.1f}%"
        return _refuse(
            situation,
            proposal,
            Code.CPU_NOT_BELOW_THRESHOLD,
            f"our own CPU reading is {shown}, not below the {threshold:g}% a scale-down needs.",
        )
    return None


CHECKS: tuple[Check, ...] = (
    check_target,
    check_shape,
    check_fresh,
    check_reason,
    check_hold,
    check_control,
    check_critical,
    check_bounds,
    check_cooldowns,
    check_rate,
    check_metrics,
    check_scale_down_safety,
)
