"""The rules proposer reads the typed situation directly; the chain asks by workload."""

from __future__ import annotations

from claudescale.config import parse_settings
from claudescale.core.limits import Limits
from claudescale.core.situation import WorkloadSituation, summarise
from claudescale.core.values import (
    Action,
    CpuReading,
    History,
    PodState,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.proposers import situation_of
from claudescale.engine.rules_proposer import RulesProposer

WEB = WorkloadRef("shop", "web")
RULES = RulesProposer(parse_settings({}))


def situation(
    replicas: int,
    percent: float | None,
    *,
    unready: int = 0,
    limits: Limits | None = None,
    limits_error: str | None = None,
    without_request: tuple[str, ...] = (),
) -> WorkloadSituation:
    ready = replicas - unready
    pods = tuple(PodState(f"web-{i}", ready=i < ready) for i in range(replicas))
    state = WorkloadState(WEB, "uid-1", replicas, "42", ready, pods=pods)
    return summarise(
        state,
        CpuReading(percent, age_s=5.0, pods_without_request=without_request),
        limits=Limits() if limits is None else limits,
        limits_error=limits_error,
        trend_percent_per_min=None,
        history=History(),
        now=0.0,
    )


def test_the_rules_scale_a_hot_workload_up_within_the_situations_limits() -> None:
    proposal = RULES.propose_one(situation(3, 85.0, limits=Limits(max_replicas=4)))
    assert (proposal.action, proposal.target_replicas, proposal.from_replicas) == (
        Action.SCALE_UP,
        4,
        3,
    )
    assert "capped at the maximum of 4" in proposal.reason


def test_the_rules_hold_when_the_annotations_are_invalid() -> None:
    proposal = RULES.propose_one(situation(3, 95.0, limits_error="max-replicas is not a number"))
    assert (proposal.action, proposal.target_replicas) == (Action.HOLD, 3)
    assert "annotations are invalid (max-replicas is not a number)" in proposal.reason


def test_the_rules_hold_when_ready_pods_have_no_cpu_request() -> None:
    proposal = RULES.propose_one(situation(3, None, without_request=("web-0", "web-1")))
    assert proposal.action is Action.HOLD
    assert "web-0, web-1 have no CPU request" in proposal.reason


def test_pods_not_ready_yet_count_at_zero_for_a_scale_up() -> None:
    """100% over 3 ready pods of 4 is 75% over all of them: 5 replicas, not 7."""
    wide = Limits(max_replicas=9)
    assert RULES.propose_one(situation(4, 100.0, limits=wide)).target_replicas == 7
    proposal = RULES.propose_one(situation(4, 100.0, unready=1, limits=wide))
    assert (proposal.action, proposal.target_replicas) == (Action.SCALE_UP, 5)
    assert proposal.reason.startswith("Counting 1 pods that are not ready yet at 0%: ")


async def test_the_rules_answer_one_proposal_per_situation_in_order() -> None:
    api = summarise(
        WorkloadState(WorkloadRef("shop", "api"), "uid-2", 3, "7", 3),
        CpuReading(60.0),
        limits=Limits(),
        trend_percent_per_min=None,
        history=History(),
        now=0.0,
    )
    answer = await RULES.propose([situation(3, 85.0), api])
    assert [(p.ref, p.action) for p in answer] == [
        (WEB, Action.SCALE_UP),
        (api.ref, Action.HOLD),
    ]


def test_invalid_annotations_give_the_default_limits_and_the_reason() -> None:
    settings = parse_settings({"guardrails": {"max_replicas": 6}})
    state = WorkloadState(
        WEB, "uid-1", 3, "42", 3, overrides=(("claudescale.io/max-replicas", "nine"),)
    )
    seen = situation_of(
        state,
        CpuReading(50.0),
        trend_percent_per_min=None,
        history=History(),
        settings=settings,
        now=0.0,
    )
    assert seen.limits.max_replicas == 6
    assert seen.limits_error is not None and "max-replicas" in seen.limits_error
