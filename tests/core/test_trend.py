"""The running trend fit: same slope as the full least-squares fit, bounded state."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claudescale.core.rules import trend_percent_per_min
from claudescale.core.trend import TrendFit


def fed(fit: TrendFit, samples: list[tuple[float, float]]) -> TrendFit:
    for at_s, percent in samples:
        fit.add(at_s, percent)
        fit.expire(at_s)
    return fit


def test_a_steady_ramp_reads_its_slope_in_percent_per_minute() -> None:
    fit = fed(TrendFit(180.0), [(1000.0 + 10 * i, 40.0 + 8 * i) for i in range(5)])
    assert fit.slope_percent_per_min() == pytest.approx(48.0)


def test_a_flat_load_reads_exactly_zero() -> None:
    fit = fed(TrendFit(180.0), [(12345.678 + 0.37 * i, 61.3) for i in range(100)])
    assert fit.slope_percent_per_min() == 0.0


def test_fewer_than_three_samples_or_under_ten_seconds_give_no_slope() -> None:
    assert fed(TrendFit(180.0), [(0.0, 1.0), (20.0, 2.0)]).slope_percent_per_min() is None
    short = [(0.0, 1.0), (4.0, 2.0), (9.0, 3.0)]
    assert fed(TrendFit(180.0), short).slope_percent_per_min() is None


def test_non_finite_samples_are_left_out() -> None:
    fit = fed(TrendFit(180.0), [(0.0, 10.0), (10.0, math.nan), (20.0, 30.0), (30.0, math.inf)])
    assert fit.count == 2 and fit.slope_percent_per_min() is None


def test_old_samples_leave_the_fit_a_bucket_at_a_time() -> None:
    """A rise long ago, then flat for longer than the window: the slope is the flat part."""
    rise = [(float(t), float(t)) for t in range(0, 100)]
    flat = [(float(t), 100.0) for t in range(100, 400)]
    fit = fed(TrendFit(180.0), rise + flat)
    assert fit.slope_percent_per_min() == 0.0


def test_the_state_stays_the_same_size_however_many_samples_arrive() -> None:
    fit = fed(TrendFit(180.0), [(0.5 * i, float(i % 7)) for i in range(20_000)])
    assert fit.buckets_in_use <= fit.buckets + 1


def test_clear_starts_over() -> None:
    fit = fed(TrendFit(60.0), [(float(t), float(t)) for t in range(30)])
    fit.clear()
    assert fit.count == 0 and fit.slope_percent_per_min() is None


@given(
    start=st.floats(0, 1e7),
    steps=st.lists(st.floats(0.5, 20.0), min_size=3, max_size=40),
    percents=st.lists(st.floats(0, 500), min_size=40, max_size=40),
)
def test_inside_the_window_it_agrees_with_the_full_fit(
    start: float, steps: list[float], percents: list[float]
) -> None:
    times = [start + sum(steps[: i + 1]) for i in range(len(steps))]
    samples = list(zip(times, percents, strict=False))
    window_s = times[-1] - times[0] + 1000.0  # nothing expires
    expected = trend_percent_per_min(samples)
    got = fed(TrendFit(window_s), samples).slope_percent_per_min()
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("window_s", [0.0, -1.0, math.inf, math.nan])
def test_a_window_must_be_a_positive_number_of_seconds(window_s: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        TrendFit(window_s)
