"""The HPA reference reproduces the documented behaviour of the Kubernetes HPA on small cases
("Horizontal Pod Autoscaling": "Algorithm details", "Stabilization window", "Default
Behavior")."""

from __future__ import annotations

from benchmarks.hpa.hpa import HpaController, HpaSpec, PodInfo, PodMetric, resource_replicas

SPEC = HpaSpec(target_utilisation_percent=60)
NOW_S = 10_000.0
"""Long after the pods started: past the CPU initialisation period."""


def pods_at(
    *percents: float | None, pending: int = 0
) -> tuple[list[PodInfo], dict[str, PodMetric]]:
    """Ready pods at these utilisations (None: no metric), plus ``pending`` pods."""
    pods, metrics = [], {}
    for index, percent in enumerate(percents):
        name = f"web-{index}"
        pods.append(PodInfo(name, False, True, False, 0.0, 5.0, 250))
        if percent is not None:
            metrics[name] = PodMetric(round(250 * percent / 100), NOW_S, 60.0)
    for index in range(pending):
        pods.append(PodInfo(f"new-{index}", True, False, False, NOW_S - 1, NOW_S - 1, 250))
    return pods, metrics


def test_inside_the_tolerance_band_nothing_changes() -> None:
    # 64 % against 60 %: ratio 1.067, within 0.1 of 1.
    pods, metrics = pods_at(64, 64, 64)
    assert resource_replicas(3, pods, metrics, SPEC, NOW_S) == 3
    pods, metrics = pods_at(55, 55, 55)
    assert resource_replicas(3, pods, metrics, SPEC, NOW_S) == 3


def test_desired_is_the_ceiling_of_current_times_utilisation_over_target() -> None:
    # ceil(2 × 100 / 60) = ceil(3.33) = 4; ceil(3 × 90 / 60) = ceil(4.5) = 5.
    assert resource_replicas(2, *pods_at(100, 100), SPEC, NOW_S) == 4
    assert resource_replicas(3, *pods_at(90, 90, 90), SPEC, NOW_S) == 5
    assert resource_replicas(4, *pods_at(20, 20, 20, 20), SPEC, NOW_S) == 2


def test_unready_pods_count_as_zero_on_a_scale_up() -> None:
    # 2 ready pods at 90 % and one pending: (90 + 90 + 0) / 3 = 60 %, on target: no change.
    pods, metrics = pods_at(90, 90, pending=1)
    assert resource_replicas(3, pods, metrics, SPEC, NOW_S) == 3


def test_pods_without_metrics_count_as_their_full_request_on_a_scale_down() -> None:
    # 2 pods at 20 % and one without a metric: (20 + 20 + 100) / 3 = 46.7 %, so
    # ceil(0.78 × 3) = 3: no scale-down (without the missing pod it would be 1).
    assert resource_replicas(3, *pods_at(20, 20, None), SPEC, NOW_S) == 3
    assert resource_replicas(3, *pods_at(20, 20), SPEC, NOW_S) == 1


def test_no_metric_at_all_means_no_scaling() -> None:
    hpa = HpaController(SPEC)
    result = hpa.reconcile(NOW_S, 3, *pods_at(None, None, None))
    assert result.desired == 3
    assert result.reasons == ("FailedGetResourceMetric",)


def test_a_scale_down_is_held_for_the_300_s_stabilisation_window() -> None:
    hpa = HpaController(SPEC)
    low = pods_at(10, 10, 10, 10, 10)
    desired = {}
    for t in range(0, 331, 15):
        desired[t] = hpa.reconcile(NOW_S + t, 5, *low).desired
    # The window starts with the current 5 replicas as a recommendation (as the controller
    # does for a new HPA) and keeps it until 300 s have passed.
    assert all(desired[t] == 5 for t in range(0, 300, 15))
    assert desired[300] == 2  # the minimum: 10 % wants 1, bounded below by 2


def test_the_highest_recommendation_of_the_window_bounds_a_scale_down() -> None:
    hpa = HpaController(SPEC)
    hpa.reconcile(NOW_S, 4, *pods_at(60, 60, 60, 60))  # wants 4
    held = hpa.reconcile(NOW_S + 15, 4, *pods_at(30, 30, 30, 30))  # wants 2
    assert held.desired == 4 and "ScaleDownStabilized" in held.reasons
    later = hpa.reconcile(NOW_S + 316, 4, *pods_at(30, 30, 30, 30))
    assert later.desired == 2


def test_a_scale_up_goes_at_once_but_at_most_max_of_100_percent_and_4_pods_per_15_s() -> None:
    wide = HpaSpec(target_utilisation_percent=60, max_replicas=20)
    hpa = HpaController(wide)
    # 2 pods at 300 %: wants ceil(2 × 5) = 10; the policies allow max(2 × 2, 2 + 4) = 6.
    first = hpa.reconcile(NOW_S, 2, *pods_at(300, 300))
    assert first.desired == 6 and "ScaleUpLimit" in first.reasons
    hpa.scaled(NOW_S, 2, 6)
    # 15 s later the period has moved on: from 6, up to max(12, 10) = 12.
    again = hpa.reconcile(NOW_S + 15, 6, *pods_at(*[300] * 6))
    assert again.desired == 12


def test_replicas_stay_within_the_bounds() -> None:
    hpa = HpaController(SPEC)
    assert hpa.reconcile(NOW_S, 4, *pods_at(200, 200, 200, 200)).desired == 5
    assert hpa.reconcile(NOW_S, 7, *pods_at(60, 60)).desired == 5
    assert hpa.reconcile(NOW_S, 1, *pods_at(60)).desired == 2


def test_the_reference_keeps_the_kubernetes_defaults() -> None:
    # The benchmark must never tune the reference to lose: only the spec's own fields (the
    # bounds and the target) may differ from what a cluster gives an HPA by default.
    spec = HpaSpec()
    assert spec.tolerance == 0.1
    assert spec.sync_period_s == 15.0
    assert spec.scale_down_stabilisation_s == 300.0
    assert spec.scale_up_stabilisation_s == 0.0
    assert [(p.kind, p.value, p.period_s) for p in spec.scale_up_policies] == [
        ("Percent", 100, 15.0),
        ("Pods", 4, 15.0),
    ]
    assert [(p.kind, p.value, p.period_s) for p in spec.scale_down_policies] == [
        ("Percent", 100, 15.0)
    ]
    assert spec.cpu_initialisation_period_s == 300.0
    assert spec.initial_readiness_delay_s == 30.0
