"""The typed situation: one workload's read, reading, limits and cooldowns in one value."""

from __future__ import annotations

from claudescale.core.limits import Limits
from claudescale.core.situation import LastDecision, cooldowns_remaining_s, summarise
from claudescale.core.values import (
    Code,
    CpuReading,
    History,
    Outcome,
    PodState,
    Source,
    WorkloadRef,
    WorkloadState,
)

WEB = WorkloadRef("shop", "web")


def state() -> WorkloadState:
    pods = (
        PodState("web-0", ready=True),
        PodState("web-1", ready=True),
        PodState("web-2", ready=False),
        PodState("web-3", ready=False, terminating=True),
    )
    return WorkloadState(
        WEB,
        "uid-1",
        3,
        "42",
        ready_replicas=2,
        rollout_in_progress=True,
        owner="HorizontalPodAutoscaler/web",
        pods=pods,
        overrides=(("claudescale.io/max-replicas", "4"),),
    )


def test_a_situation_counts_ready_and_unready_pods_and_keeps_the_read() -> None:
    reading = CpuReading(72.0, age_s=4.0)
    last = LastDecision(Outcome.HELD, Code.HOLD, Source.RULES, 10.0, "Holding.")
    seen = summarise(
        state(),
        reading,
        limits=Limits(max_replicas=4),
        trend_percent_per_min=3.5,
        history=History(external_controller=True),
        now=1000.0,
        last_decision=last,
    )
    assert (seen.ref, seen.uid, seen.replicas) == (WEB, "uid-1", 3)
    assert (seen.ready_pods, seen.unready_pods) == (2, 1)
    assert seen.rollout_in_progress and not seen.paused
    assert seen.owner == "HorizontalPodAutoscaler/web"
    assert seen.overrides == (("claudescale.io/max-replicas", "4"),)
    assert seen.limits.max_replicas == 4 and seen.limits_error is None
    assert seen.reading is reading and seen.trend_percent_per_min == 3.5
    assert seen.external_controller and seen.last_decision is last


def test_a_situation_carries_why_the_annotations_are_invalid_beside_the_defaults() -> None:
    seen = summarise(
        state(),
        CpuReading(50.0),
        limits=Limits(),
        limits_error="claudescale.io/max-replicas may only tighten the limits",
        trend_percent_per_min=None,
        history=History(),
        now=0.0,
    )
    assert seen.limits == Limits()
    assert seen.limits_error == "claudescale.io/max-replicas may only tighten the limits"


def test_cooldowns_count_down_from_the_last_scale_up_and_the_last_change() -> None:
    history = History(last_scale_up_at=100.0, last_change_at=150.0)
    assert cooldowns_remaining_s(history, Limits(), 160.0) == (30.0, 170.0)
    assert cooldowns_remaining_s(history, Limits(), 400.0) == (0.0, 0.0)
    assert cooldowns_remaining_s(History(), Limits(), 0.0) == (0.0, 0.0)


def test_a_situation_rounds_the_remaining_cooldowns_to_milliseconds() -> None:
    history = History(last_scale_up_at=100.0, last_change_at=100.0)
    seen = summarise(
        state(),
        CpuReading(50.0),
        limits=Limits(),
        trend_percent_per_min=None,
        history=history,
        now=100.0001234,
    )
    assert seen.cooldown_up_remaining_s == 90.0
    assert seen.cooldown_down_remaining_s == 180.0
