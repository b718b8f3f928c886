"""Every guardrail rule and code, at its boundaries, as pure unit tests."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from claudescale.core.guardrails import Situation, evaluate
from claudescale.core.limits import Limits
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Outcome,
    PodState,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)

REF = WorkloadRef("shop", "web")
NOW = 10_000.0


def state(replicas: int = 3, **changes: object) -> WorkloadState:
    pods = tuple(PodState(f"web-{i}", ready=True, cpu_request_cores=0.25) for i in range(replicas))
    base = WorkloadState(REF, "uid-1", replicas, "41", ready_replicas=replicas, pods=pods)
    return replace(base, **changes)  # type: ignore[arg-type]


def situation(
    *,
    replicas: int = 3,
    cpu: float | None = 30.0,
    age_s: float = 5.0,
    history: History | None = None,
    limits: Limits | None = None,
    **state_changes: object,
) -> Situation:
    return Situation(
        state=state(replicas, **state_changes),
        reading=CpuReading(cpu, age_s=age_s),
        history=history or History(),
        limits=limits or Limits(),
        now=NOW,
    )


def proposal(
    target: int,
    *,
    current: int = 3,
    reason: str = "cpu 85% of requests",
    source: Source = Source.RULES,
    action: Action | None = None,
    from_replicas: int | None = None,
    ref: WorkloadRef = REF,
) -> Proposal:
    if action is None:
        action = (
            Action.SCALE_UP
            if target > current
            else Action.SCALE_DOWN
            if target < current
            else Action.HOLD
        )
    return Proposal(
        ref,
        action,
        target,
        reason,
        source,
        from_replicas=current if from_replicas is None else from_replicas,
    )


def code_of(sit: Situation, prop: Proposal) -> Code:
    return evaluate(sit, prop).code


def test_scale_up_inside_all_limits_is_allowed_with_the_numbers_in_the_message() -> None:
    verdict = evaluate(situation(cpu=85), proposal(4))
    assert verdict.code is Code.OK and verdict.outcome is Outcome.EXECUTED
    assert (verdict.from_replicas, verdict.to_replicas) == (3, 4)
    assert "shop/web 3→4" in verdict.message


@pytest.mark.parametrize(("target", "expected"), [(5, Code.OK), (6, Code.ABOVE_MAX)])
def test_target_above_max_is_rejected_not_clamped(target: int, expected: Code) -> None:
    assert code_of(situation(replicas=4, cpu=90), proposal(target, current=4)) is expected


@pytest.mark.parametrize(
    ("replicas", "target", "expected"), [(3, 2, Code.OK), (2, 1, Code.BELOW_MIN)]
)
def test_target_below_min_is_rejected(replicas: int, target: int, expected: Code) -> None:
    assert (
        code_of(situation(replicas=replicas, cpu=10), proposal(target, current=replicas))
        is expected
    )


@pytest.mark.parametrize(
    ("since_s", "expected"), [(89.9, Code.COOLDOWN_UP), (90.0, Code.OK), (500.0, Code.OK)]
)
def test_scale_up_waits_90s_after_our_last_scale_up(since_s: float, expected: Code) -> None:
    history = History(last_scale_up_at=NOW - since_s, last_change_at=NOW - since_s)
    assert code_of(situation(cpu=85, history=history), proposal(4)) is expected


def test_scale_up_is_not_delayed_by_a_recent_scale_down() -> None:
    history = History(last_scale_up_at=None, last_change_at=NOW - 1)
    assert code_of(situation(cpu=85, history=history), proposal(4)) is Code.OK


@pytest.mark.parametrize(("since_s", "expected"), [(179.9, Code.COOLDOWN_DOWN), (180.0, Code.OK)])
def test_scale_down_waits_180s_after_any_action(since_s: float, expected: Code) -> None:
    history = History(last_change_at=NOW - since_s)
    assert code_of(situation(cpu=20, history=history), proposal(2)) is expected


def test_scale_down_waits_180s_after_an_external_change() -> None:
    # an external change sets last_change_at but not last_scale_up_at
    history = History(last_change_at=NOW - 100, last_known_replicas=3)
    assert code_of(situation(cpu=20, history=history), proposal(2)) is Code.COOLDOWN_DOWN


def test_rollback_is_not_delayed_by_cooldowns() -> None:
    history = History(last_scale_up_at=NOW - 1, last_change_at=NOW - 1)
    prop = proposal(2, source=Source.ROLLBACK)
    assert code_of(situation(cpu=20, history=history), prop) is Code.OK


@pytest.mark.parametrize(
    ("replicas", "target", "expected"),
    [(4, 3, Code.OK), (4, 2, Code.STEP_TOO_LARGE), (5, 2, Code.STEP_TOO_LARGE)],
)
def test_scale_down_moves_exactly_one_replica(replicas: int, target: int, expected: Code) -> None:
    assert (
        code_of(situation(replicas=replicas, cpu=10), proposal(target, current=replicas))
        is expected
    )


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (39.9, Code.OK),
        (40.0, Code.CPU_NOT_BELOW_THRESHOLD),
        (40.1, Code.CPU_NOT_BELOW_THRESHOLD),
        (0.0, Code.OK),
    ],
)
def test_scale_down_needs_our_own_cpu_below_40_percent(cpu: float, expected: Code) -> None:
    assert code_of(situation(cpu=cpu), proposal(2)) is expected


def test_the_models_cpu_claim_in_the_reason_is_ignored() -> None:
    prop = proposal(2, reason="cpu is 5%, definitely scale down now")
    assert code_of(situation(cpu=55), prop) is Code.CPU_NOT_BELOW_THRESHOLD


@pytest.mark.parametrize("reason", ["", "   ", "n/a", "TBD", "...", "-", "because", "12%"])
def test_blank_or_placeholder_reasons_are_refused(reason: str) -> None:
    assert code_of(situation(cpu=85), proposal(4, reason=reason)) is Code.REASON_REQUIRED


def test_reason_length_is_bounded_at_500_characters() -> None:
    ok = "cpu high " + "x" * 491
    assert len(ok) == 500
    assert code_of(situation(cpu=85), proposal(4, reason=ok)) is Code.OK
    assert code_of(situation(cpu=85), proposal(4, reason=ok + "y")) is Code.REASON_REQUIRED


def test_a_hold_is_held_and_needs_no_metrics() -> None:
    verdict = evaluate(situation(cpu=None), proposal(3, reason="cpu within target"))
    assert (verdict.outcome, verdict.code) == (Outcome.HELD, Code.HOLD)


@pytest.mark.parametrize(
    ("action", "target"),
    [(Action.SCALE_UP, 2), (Action.SCALE_DOWN, 4), (Action.HOLD, 4), (Action.SCALE_UP, 3)],
)
def test_action_and_target_that_disagree_are_invalid(action: Action, target: int) -> None:
    assert code_of(situation(cpu=50), proposal(target, action=action)) is Code.INVALID_PROPOSAL


def test_a_proposal_for_another_workload_is_an_invalid_target() -> None:
    prop = proposal(4, ref=WorkloadRef("kube-system", "coredns"))
    assert code_of(situation(cpu=85), prop) is Code.INVALID_TARGET


def test_an_unmanaged_workload_is_an_invalid_target() -> None:
    assert code_of(situation(cpu=85, managed=False), proposal(4)) is Code.INVALID_TARGET


def test_a_proposal_built_from_another_replica_count_is_stale() -> None:
    prop = proposal(4, current=3)
    assert code_of(situation(replicas=4, cpu=85), replace(prop, target_replicas=5)) is (
        Code.STALE_PROPOSAL
    )


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (CpuReading(None), Code.METRIC_MISSING),
        (CpuReading(math.nan), Code.METRIC_INVALID),
        (CpuReading(math.inf), Code.METRIC_INVALID),
        (CpuReading(-1.0), Code.METRIC_INVALID),
        (CpuReading(10_000.1), Code.METRIC_INVALID),
        (CpuReading(20.0, age_s=60.0), Code.OK),
        (CpuReading(20.0, age_s=60.1), Code.METRIC_STALE),
        (CpuReading(20.0, missing_pods=("web-2",)), Code.METRICS_INCOMPLETE),
    ],
)
def test_bad_metrics_block_changes_in_both_directions(reading: CpuReading, expected: Code) -> None:
    base = situation()
    down = evaluate(replace(base, reading=reading), proposal(2)).code
    up = evaluate(replace(base, reading=reading), proposal(4)).code
    assert down is expected
    assert up is expected


def test_no_reading_at_all_is_metric_missing() -> None:
    assert code_of(replace(situation(), reading=None), proposal(4)) is Code.METRIC_MISSING


def test_scale_down_refused_while_a_pod_is_not_ready() -> None:
    sit = situation(cpu=10)
    pods = (*sit.state.pods[:2], PodState("web-2", ready=False, cpu_request_cores=0.25))
    sit = replace(sit, state=replace(sit.state, pods=pods))
    assert code_of(sit, proposal(2)) is Code.PODS_NOT_READY
    assert code_of(sit, proposal(4)) is Code.OK  # scale-up is not held back


def test_terminating_pods_do_not_count_as_not_ready() -> None:
    sit = situation(cpu=10)
    pods = (*sit.state.pods, PodState("web-old", ready=False, terminating=True))
    assert code_of(replace(sit, state=replace(sit.state, pods=pods)), proposal(2)) is Code.OK


def test_scale_down_refused_during_a_rollout() -> None:
    sit = situation(cpu=10, rollout_in_progress=True)
    assert code_of(sit, proposal(2)) is Code.ROLLOUT_IN_PROGRESS
    assert code_of(sit, proposal(4)) is Code.OK


def test_a_paused_workload_is_never_scaled() -> None:
    assert code_of(situation(cpu=85, paused=True), proposal(4)) is Code.PAUSED


def test_a_workload_at_zero_replicas_counts_as_paused() -> None:
    assert code_of(situation(replicas=0, cpu=85), proposal(1, current=0)) is Code.PAUSED


def test_another_autoscaler_owning_the_workload_is_an_ownership_conflict() -> None:
    sit = situation(cpu=85, owner="HorizontalPodAutoscaler/web")
    verdict = evaluate(sit, proposal(4))
    assert verdict.code is Code.OWNERSHIP_CONFLICT
    assert "HorizontalPodAutoscaler/web" in verdict.message


def test_a_flagged_external_controller_stops_all_changes() -> None:
    sit = situation(cpu=85, history=History(external_controller=True))
    assert code_of(sit, proposal(4)) is Code.EXTERNAL_CONTROLLER


@pytest.mark.parametrize(
    "name",
    ["postgres-main", "redis", "cert-manager-controller", "prometheus-operator", "etcd-0", "MySQL"],
)
def test_critical_workloads_are_refused_by_name_pattern(name: str) -> None:
    ref = WorkloadRef("shop", name)
    sit = situation(cpu=85, ref=ref)
    assert code_of(sit, proposal(4, ref=ref)) is Code.CRITICAL_WORKLOAD


def test_an_allow_listed_critical_workload_may_be_scaled() -> None:
    ref = WorkloadRef("shop", "redis")
    limits = Limits(critical_allow=("shop/redis",))
    assert code_of(situation(cpu=85, ref=ref, limits=limits), proposal(4, ref=ref)) is Code.OK


@pytest.mark.parametrize(("actions", "expected"), [(11, Code.OK), (12, Code.RATE_LIMITED)])
def test_actions_per_hour_are_limited(actions: int, expected: Code) -> None:
    times = tuple(NOW - 3000 + i for i in range(actions))
    history = History(action_times=times, last_scale_up_at=NOW - 1000, last_change_at=NOW - 1000)
    assert code_of(situation(cpu=85, history=history), proposal(4)) is expected


def test_actions_older_than_an_hour_do_not_count_towards_the_rate_limit() -> None:
    history = History(action_times=tuple(NOW - 3600 - i for i in range(20)))
    assert code_of(situation(cpu=85, history=history), proposal(4)) is Code.OK


def test_operator_limits_are_read_not_the_defaults() -> None:
    limits = Limits(max_replicas=8, cooldown_up_s=10, scale_down_cpu_below_percent=60)
    history = History(last_scale_up_at=NOW - 11, last_change_at=NOW - 500)
    assert (
        code_of(
            situation(replicas=7, cpu=85, history=history, limits=limits), proposal(8, current=7)
        )
        is Code.OK
    )
    assert code_of(situation(cpu=55, limits=limits), proposal(2)) is Code.OK
