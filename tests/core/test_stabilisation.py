"""The arithmetic the rules carry between cycles: recommendations, their window, and the
correction of a rate() reading whose window spans a change of ready pods."""

from __future__ import annotations

import math

import pytest

from claudescale.core.stabilisation import (
    NEVER,
    desired_replicas,
    highest_desired,
    pod_mix_factor,
)


def desired(replicas: int, percent: float) -> int:
    return desired_replicas(
        replicas, percent, target_cpu_percent=60.0, tolerance=0.1, min_replicas=2, max_replicas=5
    )


def test_a_recommendation_inside_the_tolerance_band_is_the_present_count() -> None:
    assert [desired(4, p) for p in (54.0, 60.0, 66.0)] == [4, 4, 4]


def test_a_recommendation_outside_the_band_is_proportional_within_the_bounds() -> None:
    assert desired(4, 45.0) == 3  # 4 × 45 / 60 = 3.0 exactly: not 4 by float rounding
    assert desired(4, 46.0) == 4
    assert desired(3, 80.0) == 4
    assert desired(2, 10.0) == 2  # the minimum
    assert desired(4, 200.0) == 5  # the maximum


def test_the_highest_recommendation_counts_only_those_within_the_window() -> None:
    history = [(100.0, 5), (150.0, 4), (400.0, 3)]
    assert highest_desired(history, now=400.0, window_s=300.0) == 5  # 100 is on the edge
    assert highest_desired(history, now=401.0, window_s=300.0) == 4
    assert highest_desired(history, now=451.0, window_s=300.0) == 3
    assert highest_desired([], now=0.0, window_s=300.0) is None


def test_a_reading_needs_no_correction_when_the_pods_did_not_change_in_the_window() -> None:
    assert pod_mix_factor([(NEVER, 3)], now=500.0, window_s=120.0) == 1.0
    assert pod_mix_factor([(NEVER, 2), (300.0, 3)], now=420.0, window_s=120.0) == 1.0
    assert pod_mix_factor([], now=0.0, window_s=120.0) == 1.0


def test_after_a_scale_up_the_older_pods_overstate_the_cpu_per_pod() -> None:
    """2 pods, a third from 345 s; at 420 s the 120 s window [300, 420] holds 45 s of 2 pods.

    The old pods average 3/2 over 45 s and 1 over 75 s: 142.5 / 120 = 1.1875 of the present
    load per pod; the new pod 1. The mean over the 3 pods: (2 × 1.1875 + 1) / 3 = 1.125.
    """
    factor = pod_mix_factor([(NEVER, 2), (345.0, 3)], now=420.0, window_s=120.0)
    assert factor == pytest.approx(1.125)
    assert 87.8 / factor == pytest.approx(78.04, abs=0.01)


def test_after_a_scale_down_the_remaining_pods_understate_the_cpu_per_pod() -> None:
    """5 pods to 4 at 360 s; at 420 s half the window had 5 pods carrying the load, each
    at 4/5 of what a pod carries now: (60 × 0.8 + 60 × 1) / 120 = 0.9 for every pod."""
    factor = pod_mix_factor([(NEVER, 5), (360.0, 4)], now=420.0, window_s=120.0)
    assert factor == pytest.approx(0.9)


def test_two_changes_in_the_window_are_both_weighed() -> None:
    """2 → 3 at 330 s, 3 → 5 at 420 s; at 450 s the window is [330, 450]. The two oldest
    pods: 90 s at 5/3 and 30 s at 1; the third: the same; the two newest: 1."""
    factor = pod_mix_factor([(NEVER, 2), (330.0, 3), (420.0, 5)], now=450.0, window_s=120.0)
    old = (90.0 * 5 / 3 + 30.0) / 120.0
    assert factor == pytest.approx((3 * old + 2) / 5)
    assert math.isfinite(factor) and factor > 1.0
