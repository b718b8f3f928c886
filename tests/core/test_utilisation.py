"""CPU utilisation from per-pod samples, and the metric codes a reading deserves."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claudescale.core.limits import Limits
from claudescale.core.utilisation import PodSample, classify, measure
from claudescale.core.values import Code, CpuReading, PodState, WorkloadRef, WorkloadState

REF = WorkloadRef("shop", "web")
NOW_S = 1_800_000_000.0
LIMITS = Limits()


def workload(*pods: PodState) -> WorkloadState:
    return WorkloadState(ref=REF, uid="uid-1", replicas=len(pods), resource_version="1", pods=pods)


def ready(name: str, request_cores: float | None = 0.5) -> PodState:
    return PodState(name=name, ready=True, cpu_request_cores=request_cores)


def sample(cores: float, age_s: float = 2.0) -> PodSample:
    return PodSample(cores=cores, timestamp_s=NOW_S - age_s)


def test_utilisation_is_usage_over_requests_of_ready_pods() -> None:
    state = workload(ready("a", 0.5), ready("b", 1.5))
    reading = measure(state, {"a": sample(0.5), "b": sample(0.3)}, now_wall_s=NOW_S)
    assert reading.percent == pytest.approx(100 * 0.8 / 2.0)
    assert reading.missing_pods == ()
    assert classify(reading, LIMITS, REF) is None


def test_unready_and_terminating_pods_are_left_out_of_utilisation() -> None:
    state = workload(
        ready("a", 1.0),
        PodState("starting", ready=False, cpu_request_cores=1.0),
        PodState("leaving", ready=True, terminating=True, cpu_request_cores=1.0),
    )
    samples = {"a": sample(0.2), "starting": sample(5.0), "leaving": sample(9.0)}
    reading = measure(state, samples, now_wall_s=NOW_S)
    assert reading.percent == pytest.approx(20.0)
    assert reading.missing_pods == ()


def test_samples_of_pods_outside_the_workload_are_ignored() -> None:
    reading = measure(
        workload(ready("a", 1.0)), {"a": sample(0.4), "other": sample(99)}, now_wall_s=NOW_S
    )
    assert reading.percent == pytest.approx(40.0)


def test_ready_pod_without_sample_makes_reading_incomplete_over_the_others() -> None:
    state = workload(ready("a", 1.0), ready("b", 1.0))
    reading = measure(state, {"a": sample(0.6)}, now_wall_s=NOW_S)
    assert reading.percent == pytest.approx(60.0)
    assert reading.missing_pods == ("b",)
    code, message = classify(reading, LIMITS, REF) or (None, "")
    assert code is Code.METRICS_INCOMPLETE
    assert "shop/web" in message and "b" in message


def test_no_sample_for_any_ready_pod_is_missing_not_zero() -> None:
    reading = measure(workload(ready("a"), ready("b")), {}, now_wall_s=NOW_S)
    assert reading.percent is None
    assert reading.missing_pods == ("a", "b")
    code, message = classify(reading, LIMITS, REF) or (None, "")
    assert code is Code.METRIC_MISSING
    assert "shop/web" in message


def test_workload_without_ready_pods_is_missing() -> None:
    state = workload(PodState("a", ready=False, cpu_request_cores=1.0))
    reading = measure(state, {"a": sample(0.5)}, now_wall_s=NOW_S)
    assert reading == CpuReading(None)
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_MISSING


@pytest.mark.parametrize("request_cores", [None, 0.0, math.nan])
def test_ready_pod_without_cpu_request_makes_utilisation_undefined(
    request_cores: float | None,
) -> None:
    state = workload(ready("a", 1.0), ready("b", request_cores))
    reading = measure(state, {"a": sample(0.5), "b": sample(0.5)}, now_wall_s=NOW_S)
    assert reading.percent is None
    assert reading.pods_without_request == ("b",)
    code, message = classify(reading, LIMITS, REF) or (None, "")
    assert code is Code.METRIC_MISSING
    assert "CPU request" in message and "shop/web" in message


@pytest.mark.parametrize(
    ("cores", "expected"),
    [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (-0.2, "negative")],
)
def test_broken_samples_propagate_and_are_invalid(cores: float, expected: str) -> None:
    state = workload(ready("a", 1.0), ready("b", 1.0))
    reading = measure(state, {"a": sample(0.5), "b": sample(cores)}, now_wall_s=NOW_S)
    assert reading.percent is not None
    if expected == "nan":
        assert math.isnan(reading.percent)
    elif expected == "negative":
        assert reading.percent < 0
    else:
        assert reading.percent == float(expected)
    code, message = classify(reading, LIMITS, REF) or (None, "")
    assert code is Code.METRIC_INVALID
    assert "shop/web" in message


def test_reading_above_the_ceiling_is_invalid() -> None:
    limits = Limits(cpu_percent_ceiling=500.0)
    at_ceiling = CpuReading(percent=500.0, age_s=1.0)
    above = CpuReading(percent=500.1, age_s=1.0)
    assert classify(at_ceiling, limits, REF) is None
    assert (classify(above, limits, REF) or (None,))[0] is Code.METRIC_INVALID


@pytest.mark.parametrize(("age_s", "stale"), [(60.0, False), (60.1, True)])
def test_reading_is_stale_only_past_metric_max_age(age_s: float, stale: bool) -> None:
    reading = measure(workload(ready("a", 1.0)), {"a": sample(0.5, age_s=age_s)}, now_wall_s=NOW_S)
    assert reading.age_s == pytest.approx(age_s)
    verdict = classify(reading, Limits(metric_max_age_s=60.0), REF)
    if stale:
        assert verdict is not None
        assert verdict[0] is Code.METRIC_STALE
        assert "shop/web" in verdict[1]
    else:
        assert verdict is None


def test_age_is_that_of_the_oldest_sample_used() -> None:
    state = workload(ready("a", 1.0), ready("b", 1.0), PodState("c", ready=False))
    samples = {"a": sample(0.1, age_s=3), "b": sample(0.1, age_s=45), "c": sample(0.1, age_s=900)}
    assert measure(state, samples, now_wall_s=NOW_S).age_s == pytest.approx(45.0)


def test_sample_from_a_clock_ahead_of_ours_has_age_zero() -> None:
    reading = measure(workload(ready("a")), {"a": sample(0.1, age_s=-5)}, now_wall_s=NOW_S)
    assert reading.age_s == 0.0


def test_non_finite_timestamp_is_stale() -> None:
    reading = measure(workload(ready("a")), {"a": PodSample(0.1, math.nan)}, now_wall_s=NOW_S)
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_STALE


def test_negative_sample_is_not_cancelled_out_by_a_positive_one() -> None:
    state = workload(ready("a", 1.0), ready("b", 1.0))
    reading = measure(state, {"a": sample(0.5), "b": sample(-0.5)}, now_wall_s=NOW_S)
    assert reading.percent is not None and reading.percent < 0
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_INVALID


def test_opposite_infinities_give_nan_rather_than_an_error() -> None:
    state = workload(ready("a", 1.0), ready("b", 1.0))
    reading = measure(state, {"a": sample(math.inf), "b": sample(-math.inf)}, now_wall_s=NOW_S)
    assert reading.percent is not None and math.isnan(reading.percent)


def test_usage_too_large_to_add_up_is_invalid_rather_than_an_error() -> None:
    state = workload(ready("a", 1.0), ready("b", 1.0))
    reading = measure(state, {"a": sample(1.7e308), "b": sample(1.7e308)}, now_wall_s=NOW_S)
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_INVALID


def test_requests_too_large_to_add_up_do_not_make_usage_look_like_zero() -> None:
    state = workload(ready("a", 1.7e308), ready("b", 1.7e308))
    reading = measure(state, {"a": sample(0.5), "b": sample(0.5)}, now_wall_s=NOW_S)
    assert reading.percent != 0.0
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_INVALID


def test_invalid_value_wins_over_staleness_and_gaps() -> None:
    reading = CpuReading(percent=math.nan, age_s=999.0, missing_pods=("b",))
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_INVALID


def test_message_lists_at_most_five_pod_names() -> None:
    names = tuple(f"web-{i}" for i in range(8))
    verdict = classify(CpuReading(20.0, missing_pods=names), LIMITS, REF)
    assert verdict is not None
    assert "web-4" in verdict[1] and "web-5" not in verdict[1] and "3 more" in verdict[1]


@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.floats(min_value=0.01, max_value=64),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_reading_is_never_silently_zero_and_never_unclassified_when_broken(
    pods: list[tuple[bool, float, float | None]],
) -> None:
    state = workload(
        *(
            PodState(f"p{i}", ready=is_ready, cpu_request_cores=req)
            for i, (is_ready, req, _) in enumerate(pods)
        )
    )
    samples = {
        f"p{i}": PodSample(c, NOW_S - 1) for i, (_, _, c) in enumerate(pods) if c is not None
    }
    reading = measure(state, samples, now_wall_s=NOW_S)
    ready_values = [c for is_ready, _, c in pods if is_ready]
    verdict = classify(reading, LIMITS, REF)
    if not ready_values or all(c is None for c in ready_values):
        assert reading.percent is None
        assert verdict is not None and verdict[0] is Code.METRIC_MISSING
    elif any(c is not None and not (math.isfinite(c) and c >= 0) for c in ready_values):
        assert verdict is not None and verdict[0] is Code.METRIC_INVALID
    elif None in ready_values:
        assert verdict is not None and verdict[0] in {Code.METRICS_INCOMPLETE, Code.METRIC_INVALID}
    if reading.percent == 0.0:
        assert all(c == 0.0 for c in ready_values if c is not None)


def test_a_sample_far_in_our_future_is_stale_because_our_clock_jumped_back() -> None:
    reading = measure(workload(ready("a")), {"a": sample(0.1, age_s=-3600)}, now_wall_s=NOW_S)
    assert (classify(reading, LIMITS, REF) or (None,))[0] is Code.METRIC_STALE
