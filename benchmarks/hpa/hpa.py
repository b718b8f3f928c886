"""The HPA reference: Kubernetes' HorizontalPodAutoscaler for one CPU-utilisation metric.

Layer: benchmark (pure; times are passed in). Written from the Kubernetes documentation
("Horizontal Pod Autoscaling": "Algorithm details", "Stabilization window", "Default
Behavior") and the controller's source (pkg/controller/podautoscaler/horizontal.go and
replica_calculator.go), with the defaults kept: 0.1 tolerance, 15 s sync period, 300 s
scale-down stabilisation, scale-up by max(100 %, 4 pods) per 15 s, scale-down by 100 % per
15 s, 5 min CPU initialisation period, 30 s initial readiness delay. Each function names the
source function it follows. Nothing here is tuned to the benchmark: the only inputs are the
HPA's own spec fields, set to what a user would write for the same workload (2..5 replicas,
the same target utilisation as claudescale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PODS, PERCENT = "Pods", "Percent"


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    kind: str
    """``Pods`` or ``Percent`` (autoscaling/v2 HPAScalingPolicyType)."""
    value: int
    period_s: float


@dataclass(frozen=True, slots=True)
class HpaSpec:
    min_replicas: int = 2
    max_replicas: int = 5
    target_utilisation_percent: int = 60
    tolerance: float = 0.1  # --horizontal-pod-autoscaler-tolerance
    sync_period_s: float = 15.0  # --horizontal-pod-autoscaler-sync-period
    cpu_initialisation_period_s: float = (
        300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
    )
    initial_readiness_delay_s: float = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
    # "Default Behavior" (autoscaling/v2 defaults, SetDefaults_HorizontalPodAutoscalerBehavior):
    scale_up_stabilisation_s: float = 0.0
    scale_up_policies: tuple[ScalingPolicy, ...] = (
        ScalingPolicy(PERCENT, 100, 15.0),
        ScalingPolicy(PODS, 4, 15.0),
    )
    scale_down_stabilisation_s: float = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
    scale_down_policies: tuple[ScalingPolicy, ...] = (ScalingPolicy(PERCENT, 100, 15.0),)


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What the HPA reads of a pod from the pod lister."""

    name: str
    pending: bool
    ready: bool
    deleting: bool
    start_s: float
    ready_transition_s: float
    """When the Ready condition last changed (LastTransitionTime)."""
    request_milli: int


@dataclass(frozen=True, slots=True)
class PodMetric:
    """One pod's CPU from the resource metrics API (metricsclient.PodMetric)."""

    milli: int
    timestamp_s: float
    window_s: float


@dataclass(frozen=True, slots=True)
class Reconciled:
    desired: int
    reasons: tuple[str, ...]
    """Condition reasons the controller would set (e.g. ScaleDownStabilized, ScaleUpLimit,
    FailedGetResourceMetric); the benchmark counts them as the HPA's 'refusals'."""


def group_pods(
    pods: Sequence[PodInfo], metrics: Mapping[str, PodMetric], spec: HpaSpec, now_s: float
) -> tuple[int, set[str], set[str], set[str]]:
    """replica_calculator.go groupPods: (ready count, unready, missing, ignored).

    Deleted pods are ignored; pending pods are unready; a pod without a metric is missing;
    within the CPU initialisation period a pod counts as unready while it is not ready or
    until one metric window has passed since it became ready; after it, only a pod that is
    not ready and has never been ready (within the initial readiness delay) is unready.
    """
    ready_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting:
            ignored.add(pod.name)
            continue
        if pod.pending:
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if pod.start_s + spec.cpu_initialisation_period_s > now_s:
            is_unready = (not pod.ready) or (
                metric.timestamp_s < pod.ready_transition_s + metric.window_s
            )
        else:
            is_unready = (not pod.ready) and (
                pod.start_s + spec.initial_readiness_delay_s > pod.ready_transition_s
            )
        if is_unready:
            unready.add(pod.name)
            continue
        ready_count += 1
    return ready_count, unready, missing, ignored


def utilisation_ratio(
    metrics: Mapping[str, int], requests: Mapping[str, int], target_percent: int
) -> tuple[float, int]:
    """metrics/utilization.go GetResourceUtilizationRatio: integer percent of requests over
    the pods that have both a metric and a request, divided by the target."""
    used = [name for name in metrics if name in requests]
    requests_total = sum(requests[name] for name in used)
    if requests_total == 0:
        raise ValueError("No pod with a metric has a CPU request.")
    current = (sum(metrics[name] for name in used) * 100) // requests_total
    return current / target_percent, current


def resource_replicas(
    current: int,
    pods: Sequence[PodInfo],
    metrics: Mapping[str, PodMetric],
    spec: HpaSpec,
    now_s: float,
) -> int | None:
    """replica_calculator.go GetResourceReplicas; None where it returns an error (no
    usable metric), in which case the controller does not scale ("Algorithm details")."""
    ready_count, unready, missing, ignored = group_pods(pods, metrics, spec, now_s)
    usage = {n: m.milli for n, m in metrics.items() if n not in unready and n not in ignored}
    usage = {n: v for n, v in usage.items() if any(p.name == n for p in pods)}
    if not usage:
        return None
    requests = {p.name: p.request_milli for p in pods}
    target = spec.target_utilisation_percent
    ratio, _ = utilisation_ratio(usage, requests, target)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= spec.tolerance:
            return current  # inside the tolerance band: no change
        return math.ceil(ratio * ready_count)
    # "Algorithm details": missing pods count as 100 % of their request on a scale-down and
    # 0 % on a scale-up; unready pods as 0 % on a scale-up. Then recompute.
    if missing:
        for name in missing:
            usage[name] = requests[name] if ratio < 1.0 else 0
    if scale_up_with_unready:
        for name in unready:
            usage[name] = 0
    new_ratio, _ = utilisation_ratio(usage, requests, target)
    if (
        abs(1.0 - new_ratio) <= spec.tolerance
        or (ratio < 1.0 < new_ratio)
        or (ratio > 1.0 > new_ratio)
    ):
        return current  # too small a change, or the recomputation flips the direction
    new_replicas = math.ceil(new_ratio * len(usage))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return current
    return new_replicas


@dataclass(slots=True)
class HpaController:
    """The per-HPA state horizontal.go keeps: recommendations and scale events."""

    spec: HpaSpec = field(default_factory=HpaSpec)
    recommendations: list[tuple[float, int]] | None = None
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)

    def reconcile(
        self,
        now_s: float,
        current: int,
        pods: Sequence[PodInfo],
        metrics: Mapping[str, PodMetric],
    ) -> Reconciled:
        """horizontal.go reconcileAutoscaler for one Resource metric with behaviours."""
        spec = self.spec
        if current > spec.max_replicas:
            return Reconciled(spec.max_replicas, ("TooManyReplicas",))
        if current < spec.min_replicas:
            return Reconciled(spec.min_replicas, ("TooFewReplicas",))
        wanted = resource_replicas(current, pods, metrics, spec, now_s)
        if wanted is None:
            return Reconciled(current, ("FailedGetResourceMetric",))
        return self._normalise(now_s, current, wanted)

    def _normalise(self, now_s: float, current: int, wanted: int) -> Reconciled:
        """horizontal.go normalizeDesiredReplicasWithBehaviors."""
        reasons: list[str] = []
        if self.recommendations is None:  # maybeInitScaleDownStabilizationWindow
            self.recommendations = [(now_s, current)]
        stabilised = self._stabilise(now_s, current, wanted)
        if stabilised != wanted:
            reasons.append("ScaleUpStabilized" if stabilised < wanted else "ScaleDownStabilized")
        desired, limit = self._rate_limited(now_s, current, stabilised)
        if limit:
            reasons.append(limit)
        return Reconciled(desired, tuple(reasons))

    def _stabilise(self, now_s: float, current: int, wanted: int) -> int:
        """horizontal.go stabilizeRecommendationWithBehaviors ("Stabilization window"): the
        highest recommendation of the last 300 s bounds a scale-down; the lowest of the
        scale-up window (0 s by default) bounds a scale-up."""
        assert self.recommendations is not None
        spec = self.spec
        up_cutoff = now_s - spec.scale_up_stabilisation_s
        down_cutoff = now_s - spec.scale_down_stabilisation_s
        up, down = wanted, wanted
        for at_s, replicas in self.recommendations:
            if at_s > up_cutoff:
                up = min(up, replicas)
            if at_s > down_cutoff:
                down = max(down, replicas)
        recommendation = min(max(current, up), down)
        keep_after = min(up_cutoff, down_cutoff)
        self.recommendations = [r for r in self.recommendations if r[0] >= keep_after]
        self.recommendations.append((now_s, wanted))
        return recommendation

    def _rate_limited(self, now_s: float, current: int, desired: int) -> tuple[int, str]:
        """horizontal.go convertDesiredReplicasWithBehaviorRate with
        calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors (policy
        selection Max, the default)."""
        spec = self.spec
        if desired > current:
            limit = max(
                self._policy_limit(now_s, current, spec.scale_up_policies, up=True), current
            )
            allowed = min(spec.max_replicas, limit)
            reason = "ScaleUpLimit" if spec.max_replicas > limit else "TooManyReplicas"
            return (allowed, reason) if desired > allowed else (desired, "")
        if desired < current:
            limit = min(
                self._policy_limit(now_s, current, spec.scale_down_policies, up=False), current
            )
            allowed = max(spec.min_replicas, limit)
            reason = "ScaleDownLimit" if spec.min_replicas < limit else "TooFewReplicas"
            return (allowed, reason) if desired < allowed else (desired, "")
        return desired, ""

    def _policy_limit(
        self, now_s: float, current: int, policies: Sequence[ScalingPolicy], *, up: bool
    ) -> int:
        proposals = []
        for policy in policies:
            added = _changed_within(self.up_events, now_s, policy.period_s)
            deleted = _changed_within(self.down_events, now_s, policy.period_s)
            start = current - added + deleted
            if policy.kind == PODS:
                proposals.append(start + policy.value if up else start - policy.value)
            elif up:
                proposals.append(math.ceil(start * (1 + policy.value / 100)))
            else:
                proposals.append(int(start * (1 - policy.value / 100)))
        return max(proposals) if up else min(proposals)

    def scaled(self, now_s: float, before: int, after: int) -> None:
        """horizontal.go storeScaleEvent, after a successful write."""
        longest_s = max(
            p.period_s for p in (*self.spec.scale_up_policies, *self.spec.scale_down_policies)
        )
        self.up_events = [e for e in self.up_events if e[0] > now_s - longest_s]
        self.down_events = [e for e in self.down_events if e[0] > now_s - longest_s]
        if after > before:
            self.up_events.append((now_s, after - before))
        elif after < before:
            self.down_events.append((now_s, before - after))


def _changed_within(events: Sequence[tuple[float, int]], now_s: float, period_s: float) -> int:
    """horizontal.go getReplicasChangePerPeriod."""
    return sum(change for at_s, change in events if at_s > now_s - period_s)
