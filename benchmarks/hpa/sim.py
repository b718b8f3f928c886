"""The shared timeline: one trace, one simulated Deployment, one controller, one ledger.

Layer: benchmark. Every controller runs through ``simulate`` on the same timeline: a warm-up
of ``WARMUP_S`` (metrics fill their window, no controller, nothing measured), then one tick
per second; at each tick the world drops finished pods and scrapes if due, the controller
acts if its period has come (it returns the replicas it wants), and then the ready pods
serve the tick's demand while the ledger books it. This module also runs the HPA reference
(``run_hpa``): what it reads of the world is exactly what claudescale's loop reads.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from benchmarks.hpa.hpa import HpaController, HpaSpec, PodInfo, PodMetric
from benchmarks.hpa.measures import Ledger
from benchmarks.hpa.traces import Trace
from benchmarks.hpa.world import REQUEST_CORES, Pipeline, World

WARMUP_S = 180.0
MIN_REPLICAS, MAX_REPLICAS = 2, 5

Act = Callable[[World, float], Awaitable[int]]
"""A controller's turn at time t: look at the world, return the replicas it has set."""


async def simulate(
    trace: Trace,
    pipeline: Pipeline,
    *,
    target_percent: float,
    period_s: float,
    act: Act,
    duration_s: float | None = None,
) -> Ledger:
    """Run ``act`` every ``period_s`` from t = 0 over the trace (or its first
    ``duration_s``); return the ledger of t >= 0."""
    ledger = Ledger(target_percent)
    tick_s = pipeline.tick_s
    end_s = trace.duration_s if duration_s is None else min(duration_s, trace.duration_s)
    world = World(pipeline, start_replicas(trace, target_percent), -WARMUP_S)
    next_act_s = 0.0
    for i in range(-math.ceil(WARMUP_S / tick_s), math.ceil(end_s / tick_s)):
        t_s = i * tick_s
        demand = trace.demand_cores(max(t_s, 0.0))
        world.begin_tick(t_s)
        if t_s >= next_act_s:
            before = world.replicas
            after = await act(world, t_s)
            if after != before:
                ledger.wrote(t_s, before, after)
                world.set_replicas(after, t_s)
            next_act_s += period_s
        world.serve(demand, t_s)
        if t_s >= 0:
            capacity = world.capacity_cores(t_s, target_percent)
            ledger.tick(t_s, tick_s, demand, capacity, world.replicas)
    return ledger


def start_replicas(trace: Trace, target_percent: float) -> int:
    """Where any controller would have settled for the trace's first demand, so that no
    controller starts with a correction the others are spared."""
    per_pod_cores = REQUEST_CORES * target_percent / 100.0
    wanted = math.ceil(trace.demand_cores(0.0) / per_pod_cores - 1e-9)
    return min(max(wanted, MIN_REPLICAS), MAX_REPLICAS)


def unavoidable_overload_s(
    trace: Trace, pipeline: Pipeline, target_percent: float, end_s: float
) -> float:
    """Seconds in which even the maximum of ready replicas would be overloaded: the floor
    that no controller within the bounds can go below."""
    most_cores = MAX_REPLICAS * REQUEST_CORES * target_percent / 100.0
    tick_s = pipeline.tick_s
    ticks = range(math.ceil(end_s / tick_s))
    return sum(tick_s for i in ticks if trace.demand_cores(i * tick_s) > most_cores + 1e-9)


def hpa_view(world: World, now_s: float) -> tuple[list[PodInfo], dict[str, PodMetric]]:
    """The pod list and the resource metrics the HPA would read at ``now_s``."""
    pods: list[PodInfo] = []
    metrics: dict[str, PodMetric] = {}
    window_s = world.pipeline.rate_window_s
    for pod in world.pods:
        ready = pod.ready(now_s)
        deleting = pod.terminating_since_s is not None
        pods.append(
            PodInfo(
                name=pod.name,
                pending=not deleting and now_s < pod.ready_at_s,
                ready=ready,
                deleting=deleting,
                start_s=pod.created_s,
                ready_transition_s=pod.ready_at_s,
                request_milli=round(REQUEST_CORES * 1000),
            )
        )
        rate = world.rate(pod, now_s)
        if rate is not None:
            # Quantity.MilliValue rounds up.
            metrics[pod.name] = PodMetric(
                math.ceil(rate.cores * 1000 - 1e-9), rate.timestamp_s, window_s
            )
    return pods, metrics


async def run_hpa(
    trace: Trace,
    pipeline: Pipeline,
    spec: HpaSpec,
    *,
    duration_s: float | None = None,
) -> Ledger:
    controller = HpaController(spec)
    reasons: list[str] = []

    async def act(world: World, now_s: float) -> int:
        pods, metrics = hpa_view(world, now_s)
        result = controller.reconcile(now_s, world.replicas, pods, metrics)
        reasons.extend(result.reasons)
        if result.desired != world.replicas:
            controller.scaled(now_s, world.replicas, result.desired)
        return result.desired

    ledger = await simulate(
        trace,
        pipeline,
        target_percent=spec.target_utilisation_percent,
        period_s=spec.sync_period_s,
        act=act,
        duration_s=duration_s,
    )
    for reason in reasons:
        ledger.refused(reason)
    return ledger
