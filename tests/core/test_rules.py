"""The rules policy: HPA-style proportional control that stays inside the guardrails' bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudescale.core.limits import Limits
from claudescale.core.rules import propose_by_rules, trend_percent_per_min
from claudescale.core.values import (
    Action,
    CpuReading,
    PodState,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)

WEB = WorkloadRef("shop", "web")
DEFAULTS = Limits()


def workload(replicas: int, *, ready: int | None = None, paused: bool = False) -> WorkloadState:
    count = replicas if ready is None else ready
    pods = tuple(PodState(f"web-{i}", ready=True) for i in range(count))
    return WorkloadState(
        WEB, "uid-1", replicas, "42", ready_replicas=count, pods=pods, paused=paused
    )


def rules(
    replicas: int,
    percent: float | None,
    *,
    limits: Limits = DEFAULTS,
    trend: float | None = None,
    lookahead_s: float = 0.0,
    age_s: float = 5.0,
    missing: tuple[str, ...] = (),
    paused: bool = False,
) -> Proposal:
    return propose_by_rules(
        workload(replicas, paused=paused),
        CpuReading(percent, age_s=age_s, missing_pods=missing),
        limits,
        target_cpu_percent=60.0,
        tolerance=0.1,
        trend_percent_per_min=trend,
        lookahead_s=lookahead_s,
    )


@pytest.mark.parametrize(
    ("replicas", "percent", "action", "target"),
    [
        pytest.param(3, 66.0, Action.HOLD, 3, id="upper tolerance edge holds"),
        pytest.param(3, 66.1, Action.SCALE_UP, 4, id="just above the band scales up"),
        pytest.param(3, 54.0, Action.HOLD, 3, id="lower tolerance edge holds"),
        pytest.param(3, 60.0, Action.HOLD, 3, id="on target holds"),
        pytest.param(3, 85.0, Action.SCALE_UP, 5, id="proportional scale-up"),
        pytest.param(2, 70.0, Action.SCALE_UP, 3, id="ceil of 2.33"),
        pytest.param(3, 150.0, Action.SCALE_UP, 5, id="clamped at the maximum"),
        pytest.param(5, 95.0, Action.HOLD, 5, id="already at the maximum"),
        pytest.param(4, 95.0, Action.SCALE_UP, 5, id="up to the maximum"),
        pytest.param(2, 10.0, Action.HOLD, 2, id="already at the minimum"),
        pytest.param(3, 39.9, Action.SCALE_DOWN, 2, id="just under the scale-down threshold"),
        pytest.param(3, 40.0, Action.HOLD, 3, id="at the scale-down threshold holds"),
        pytest.param(3, 45.0, Action.HOLD, 3, id="one fewer would overshoot the target"),
        pytest.param(5, 10.0, Action.SCALE_DOWN, 4, id="one step down even when far below"),
        pytest.param(5, 35.0, Action.SCALE_DOWN, 4, id="one step down from five"),
        pytest.param(3, 0.0, Action.SCALE_DOWN, 2, id="idle scales down to the minimum"),
        pytest.param(1, 60.0, Action.SCALE_UP, 2, id="under the minimum is raised to it"),
        pytest.param(1, 10.0, Action.SCALE_UP, 2, id="under the minimum even when idle"),
        pytest.param(6, 10.0, Action.SCALE_DOWN, 5, id="above the maximum, one step back in"),
        pytest.param(7, 10.0, Action.HOLD, 7, id="one step from seven would stay out of bounds"),
        pytest.param(7, 95.0, Action.HOLD, 7, id="above the maximum and busy holds"),
    ],
)
def test_rules_follow_proportional_control_within_the_bounds(
    replicas: int, percent: float, action: Action, target: int
) -> None:
    proposal = rules(replicas, percent)

    assert (proposal.action, proposal.target_replicas) == (action, target)
    assert proposal.source is Source.RULES
    assert proposal.from_replicas == replicas
    assert proposal.ref == WEB
    assert proposal.reason.strip()


def test_a_scale_up_reason_is_a_sentence_with_the_numbers() -> None:
    proposal = rules(3, 85.0)

    assert proposal.reason == (
        "CPU 85.0% of requests over 3 ready pods is above the 60% target; "
        "5 replicas would bring it near 51%."
    )


def test_a_clamped_scale_up_says_it_was_capped() -> None:
    assert "capped at the maximum of 5" in rules(3, 150.0).reason


def test_a_scale_down_above_the_threshold_says_why_it_holds() -> None:
    reason = rules(3, 40.0).reason

    assert "not below the 40% scale-down threshold" in reason
    assert "holding at 3 replicas" in reason


def test_a_larger_configured_step_moves_at_most_that_many_replicas() -> None:
    limits = Limits(max_step_down=2)

    assert rules(5, 10.0, limits=limits).target_replicas == 3
    assert rules(5, 39.0, limits=limits).target_replicas == 4  # ceil(5 * 39 / 60) is 4
    assert rules(3, 10.0, limits=limits).target_replicas == 2  # never below the minimum


def test_the_scale_down_threshold_is_the_configured_one() -> None:
    limits = Limits(scale_down_cpu_below_percent=30.0)

    assert rules(3, 30.0, limits=limits).action is Action.HOLD
    assert rules(3, 29.9, limits=limits).action is Action.SCALE_DOWN


@pytest.mark.parametrize(
    ("percent", "age_s", "missing", "paused", "why"),
    [
        pytest.param(None, 5.0, (), False, "no CPU data", id="no data"),
        pytest.param(math.nan, 5.0, (), False, "nan", id="NaN"),
        pytest.param(math.inf, 5.0, (), False, "inf", id="infinity"),
        pytest.param(-math.inf, 5.0, (), False, "inf", id="minus infinity"),
        pytest.param(-5.0, 5.0, (), False, "not believable", id="negative"),
        pytest.param(20_000.0, 5.0, (), False, "not believable", id="above the ceiling"),
        pytest.param(95.0, 61.0, (), False, "61 s old", id="stale"),
        pytest.param(
            10.0,
            5.0,
            ("web-2",),
            False,
            "1 ready pods have no CPU sample (web-2)",
            id="missing pod",
        ),
        pytest.param(
            10.0, 5.0, ("a", "b", "c", "d"), False, "(a, b and 2 more)", id="many missing pods"
        ),
        pytest.param(95.0, 5.0, (), True, "paused", id="paused"),
    ],
)
def test_an_unusable_reading_holds_and_says_why(
    percent: float | None, age_s: float, missing: tuple[str, ...], paused: bool, why: str
) -> None:
    proposal = rules(3, percent, age_s=age_s, missing=missing, paused=paused)

    assert (proposal.action, proposal.target_replicas) == (Action.HOLD, 3)
    assert proposal.reason.startswith("Holding at 3 replicas: ")
    assert why in proposal.reason


def test_zero_replicas_is_paused_and_holds() -> None:
    proposal = rules(0, 95.0)

    assert (proposal.action, proposal.target_replicas) == (Action.HOLD, 0)
    assert "paused" in proposal.reason


def test_a_rising_trend_scales_up_before_the_band_is_crossed() -> None:
    without = rules(3, 60.0)
    ahead = rules(3, 60.0, trend=10.0, lookahead_s=60.0)

    assert without.action is Action.HOLD
    assert (ahead.action, ahead.target_replicas) == (Action.SCALE_UP, 4)
    assert "rising 10% per minute towards 70.0% in 60 s" in ahead.reason


def test_a_rising_trend_sizes_a_scale_up_for_the_projection() -> None:
    assert rules(3, 70.0).target_replicas == 4
    assert rules(3, 70.0, trend=20.0, lookahead_s=60.0).target_replicas == 5


def test_a_trend_without_look_ahead_changes_nothing() -> None:
    assert rules(3, 60.0, trend=50.0, lookahead_s=0.0) == rules(3, 60.0)


@pytest.mark.parametrize("trend", [-30.0, -1000.0, math.nan, -math.inf])
def test_a_falling_or_broken_trend_never_scales_down(trend: float) -> None:
    assert rules(3, 45.0, trend=trend, lookahead_s=120.0) == rules(3, 45.0)
    assert rules(3, 39.9, trend=trend, lookahead_s=120.0) == rules(3, 39.9)


def test_a_rising_trend_crossing_the_threshold_holds_a_scale_down() -> None:
    assert rules(3, 30.0).action is Action.SCALE_DOWN

    proposal = rules(3, 30.0, trend=15.0, lookahead_s=60.0)

    assert (proposal.action, proposal.target_replicas) == (Action.HOLD, 3)
    assert "rising 15% per minute towards 45.0%" in proposal.reason


@pytest.mark.parametrize(
    ("target", "tolerance", "lookahead_s"),
    [
        (0.0, 0.1, 0.0),
        (-60.0, 0.1, 0.0),
        (math.nan, 0.1, 0.0),
        (60.0, -0.1, 0.0),
        (60.0, math.inf, 0.0),
        (60.0, 0.1, -1.0),
    ],
)
def test_nonsensical_settings_are_a_value_error(
    target: float, tolerance: float, lookahead_s: float
) -> None:
    with pytest.raises(ValueError, match="must be a"):
        propose_by_rules(
            workload(3),
            CpuReading(50.0),
            DEFAULTS,
            target_cpu_percent=target,
            tolerance=tolerance,
            lookahead_s=lookahead_s,
        )


# --- trend ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        pytest.param([(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)], 60.0, id="one percent a second"),
        pytest.param([(20.0, 30.0), (0.0, 10.0), (10.0, 20.0)], 60.0, id="unordered"),
        pytest.param([(0.0, 50.0), (5.0, 50.0), (10.0, 50.0)], 0.0, id="flat"),
        pytest.param([(0.0, 0.0), (10.0, 20.0), (20.0, 10.0)], 30.0, id="least squares"),
        pytest.param([(0.0, 90.0), (30.0, 60.0), (60.0, 30.0)], -60.0, id="falling"),
        pytest.param(
            [(0.0, 10.0), (5.0, math.nan), (10.0, 20.0), (20.0, 30.0)],
            60.0,
            id="non-finite samples dropped",
        ),
        pytest.param([(0.0, 10.0), (10.0, 20.0)], None, id="two points"),
        pytest.param([(0.0, 10.0), (5.0, math.inf), (10.0, 20.0)], None, id="two finite points"),
        pytest.param([(0.0, 10.0), (4.0, 20.0), (9.9, 30.0)], None, id="span under 10 s"),
        pytest.param([(0.0, 10.0), (5.0, 15.0), (10.0, 20.0)], 60.0, id="span of exactly 10 s"),
        pytest.param([], None, id="nothing"),
    ],
)
def test_trend_is_the_least_squares_slope_per_minute(
    samples: list[tuple[float, float]], expected: float | None
) -> None:
    result = trend_percent_per_min(samples)

    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-9)


@given(
    slope_per_min=st.floats(-500, 500),
    intercept=st.floats(0, 500),
    times=st.lists(st.floats(0, 3600), min_size=3, max_size=30, unique=True),
)
def test_trend_recovers_the_slope_of_a_line(
    slope_per_min: float, intercept: float, times: list[float]
) -> None:
    samples = [(t, intercept + slope_per_min * t / 60.0) for t in times]

    result = trend_percent_per_min(samples)

    if max(times) - min(times) < 10.0:
        assert result is None
    else:
        assert result == pytest.approx(slope_per_min, rel=1e-6, abs=1e-6)


# --- properties ----------------------------------------------------------------------------


@st.composite
def limits_strategy(draw: st.DrawFn) -> Limits:
    low = draw(st.integers(1, 5))
    return Limits(
        min_replicas=low,
        max_replicas=draw(st.integers(low, 9)),
        max_step_down=draw(st.integers(1, 3)),
        scale_down_cpu_below_percent=draw(st.floats(1.0, 120.0)),
    )


percents = st.one_of(
    st.none(),
    st.floats(0.0, 400.0),
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 54.0, 66.0, 40.0, 39.9]),
)
trends = st.one_of(st.none(), st.floats(-200.0, 200.0), st.just(math.nan))


@settings(max_examples=400)
@given(
    limits=limits_strategy(),
    replicas=st.integers(0, 12),
    ready=st.integers(0, 12),
    percent=percents,
    age_s=st.floats(0.0, 120.0),
    missing=st.sampled_from([(), ("web-0",)]),
    target=st.floats(10.0, 100.0),
    tolerance=st.floats(0.0, 0.5),
    trend=trends,
    lookahead_s=st.floats(0.0, 600.0),
)
def test_every_rules_proposal_is_one_the_guardrails_bounds_would_accept(
    limits: Limits,
    replicas: int,
    ready: int,
    percent: float | None,
    age_s: float,
    missing: tuple[str, ...],
    target: float,
    tolerance: float,
    trend: float | None,
    lookahead_s: float,
) -> None:
    state = workload(replicas, ready=ready)
    reading = CpuReading(percent, age_s=age_s, missing_pods=missing)

    def run(trend: float | None) -> Proposal:
        return propose_by_rules(
            state,
            reading,
            limits,
            target_cpu_percent=target,
            tolerance=tolerance,
            trend_percent_per_min=trend,
            lookahead_s=lookahead_s,
        )

    proposal = run(trend)

    # The action always agrees with the target.
    expected = (
        Action.SCALE_UP
        if proposal.target_replicas > replicas
        else Action.SCALE_DOWN
        if proposal.target_replicas < replicas
        else Action.HOLD
    )
    assert proposal.action is expected
    # A change always lands within the bounds.
    if proposal.action is not Action.HOLD:
        assert limits.min_replicas <= proposal.target_replicas <= limits.max_replicas
    # A scale-down is one step and only below the threshold, on a real reading.
    if proposal.action is Action.SCALE_DOWN:
        assert 1 <= replicas - proposal.target_replicas <= limits.max_step_down
        assert percent is not None
        assert percent < limits.scale_down_cpu_below_percent
    if proposal.action is Action.SCALE_DOWN and limits.max_step_down == 1:
        assert proposal.target_replicas == replicas - 1
    assert proposal.reason.strip()
    assert len(proposal.reason) <= limits.reason_max_chars
    assert proposal.source is Source.RULES
    assert proposal.from_replicas == replicas

    # The trend can only make the policy more willing to scale up, never to scale down.
    plain = run(None)
    if proposal.action is Action.SCALE_DOWN:
        assert plain == proposal
    if plain.action is Action.SCALE_UP:
        assert proposal.action is Action.SCALE_UP
        assert proposal.target_replicas >= plain.target_replicas
