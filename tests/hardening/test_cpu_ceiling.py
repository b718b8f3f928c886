"""Issue 9, point 14: a CPU reading the pods' CPU limits make impossible is ``metric_invalid``.

A pod cannot use more CPU than its limit (the kernel throttles it), so with a limit of 4× the
request, utilisation above 400 % of requests (plus a little for rate() jitter) is a broken
source, not load. Pods without a limit keep the absolute ``cpu_percent_ceiling``."""

from __future__ import annotations

from typing import Any

import pytest

from claudescale.adapters.kubernetes.convert import pod_state
from claudescale.core.guardrails import Situation, evaluate
from claudescale.core.limits import Limits
from claudescale.core.utilisation import PodSample, classify, measure
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    PodState,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)

REF = WorkloadRef("shop", "web")
NOW_WALL_S = 1_800_000_000.0
REQUEST_CORES = 0.25


def workload(*limits_cores: float | None) -> WorkloadState:
    pods = tuple(
        PodState(f"web-{i}", ready=True, cpu_request_cores=REQUEST_CORES, cpu_limit_cores=limit)
        for i, limit in enumerate(limits_cores)
    )
    return WorkloadState(REF, "uid-1", len(pods), "41", ready_replicas=len(pods), pods=pods)


def reading_at(state: WorkloadState, percent: float) -> CpuReading:
    cores = REQUEST_CORES * percent / 100.0
    samples = {pod.name: PodSample(cores, NOW_WALL_S - 5.0) for pod in state.pods}
    return measure(state, samples, now_wall_s=NOW_WALL_S)


def code_at(state: WorkloadState, percent: float, limits: Limits | None = None) -> Code | None:
    problem = classify(reading_at(state, percent), limits or Limits(), REF)
    return None if problem is None else problem[0]


def test_5000_percent_with_a_limit_of_four_times_the_request_is_metric_invalid() -> None:
    state = workload(1.0, 1.0, 1.0)
    reading = reading_at(state, 5000.0)
    problem = classify(reading, Limits(), REF)
    assert problem is not None and problem[0] is Code.METRIC_INVALID
    assert "shop/web" in problem[1] and "limit" in problem[1]


def test_the_guardrails_refuse_a_scale_up_on_a_reading_above_the_limits() -> None:
    state = workload(1.0, 1.0, 1.0)
    situation = Situation(state, reading_at(state, 5000.0), History(), Limits(), 10_000.0)
    proposal = Proposal(REF, Action.SCALE_UP, 4, "cpu 5000%", Source.RULES, from_replicas=3)
    assert evaluate(situation, proposal).code is Code.METRIC_INVALID


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(400.0, None), (450.0, None), (499.0, None), (520.0, Code.METRIC_INVALID)],
)
def test_readings_up_to_the_limit_plus_rate_jitter_are_believed(
    percent: float, expected: Code | None
) -> None:
    assert code_at(workload(1.0, 1.0), percent) is expected


def test_pods_without_a_cpu_limit_keep_the_absolute_ceiling() -> None:
    assert code_at(workload(None, None), 5000.0) is None
    assert code_at(workload(None, None), 10_001.0) is Code.METRIC_INVALID
    assert code_at(workload(1.0, None), 5000.0) is None  # one pod may burst without limit


def test_the_operators_absolute_ceiling_still_applies_when_it_is_lower() -> None:
    assert code_at(workload(1.0), 350.0, Limits(cpu_percent_ceiling=300.0)) is Code.METRIC_INVALID


def test_the_limit_ceiling_is_over_the_measured_pods_sums() -> None:
    reading = reading_at(workload(0.5, 1.5), 300.0)  # 2 cores of limits over 0.5 of requests
    assert reading.limit_percent == pytest.approx(400.0)
    assert reading_at(workload(0.5, None), 100.0).limit_percent is None


def pod_json(*limits: Any) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "resources": {"requests": {"cpu": "100m"}, "limits": limit}}
        for i, limit in enumerate(limits)
    ]
    return {
        "metadata": {"name": "web-0"},
        "spec": {"containers": containers},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_the_kubernetes_converter_carries_the_pods_cpu_limit() -> None:
    assert pod_state(pod_json({"cpu": "500m"}, {"cpu": "1"})).cpu_limit_cores == 1.5
    assert pod_state(pod_json({"cpu": "500m"}, {"memory": "1Gi"})).cpu_limit_cores is None
    assert pod_state(pod_json(None)).cpu_limit_cores is None
