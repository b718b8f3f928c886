"""The simulator's bookkeeping on hand-computed cases: capacity, demand, the rate pipeline
and the overload integral."""

from __future__ import annotations

import pytest

from benchmarks.hpa.measures import Ledger
from benchmarks.hpa.sim import simulate, start_replicas, unavoidable_overload_s
from benchmarks.hpa.traces import Trace, load_trace
from benchmarks.hpa.world import Pipeline, World

PIPELINE = Pipeline(scrape_interval_s=15.0, rate_window_s=120.0, startup_s=5.0)


def trace_of(*points: tuple[float, float], steps: tuple[float, ...] = ()) -> Trace:
    return Trace(
        name="hand",
        description="hand-made",
        times_s=tuple(t for t, _ in points),
        demands_cores=tuple(d for _, d in points),
        load_steps_s=steps,
    )


# 0.2 cores for 10 s, then 0.5 cores until 30 s: a step at 10 s.
STEP = trace_of((0, 0.2), (10, 0.2), (10, 0.5), (30, 0.5), steps=(10.0,))


def test_a_trace_steps_where_two_rows_share_a_time_and_is_linear_between_rows() -> None:
    assert STEP.demand_cores(9.5) == pytest.approx(0.2)
    assert STEP.demand_cores(10.0) == pytest.approx(0.5)
    ramp = trace_of((0, 0.0), (10, 1.0))
    assert ramp.demand_cores(2.5) == pytest.approx(0.25)
    assert ramp.demand_cores(99.0) == pytest.approx(1.0)


async def test_overload_is_demand_above_ready_pods_at_the_target_integrated_per_second() -> None:
    # 2 ready pods × 250m × 60 % = 0.3 cores. Demand 0.5 from 10 s to 30 s: 20 s of overload,
    # 20 s × 0.2 cores = 4 core-seconds; 0.5 is not above 2 × 250m, so no second over
    # request; 2 replicas for 30 s = 60 replica-seconds.
    async def keep(world: World, now_s: float) -> int:
        return world.replicas

    ledger = await simulate(STEP, PIPELINE, target_percent=60, period_s=15, act=keep)
    assert ledger.overload_s == pytest.approx(20.0)
    assert ledger.overload_core_s == pytest.approx(4.0)
    assert ledger.over_request_s == 0.0
    assert ledger.replica_s == pytest.approx(60.0)
    assert ledger.writes == []


async def test_new_pods_add_capacity_only_once_ready_but_cost_replica_seconds_at_once() -> None:
    # At 15 s the controller sets 4 replicas; they are ready at 20 s: 4 × 0.15 = 0.6 cores
    # covers 0.5. Overload 10 s..20 s = 10 s, 2 core-seconds; replica-seconds 2 × 15 + 4 × 15.
    async def to_four_at_15(world: World, now_s: float) -> int:
        return 4 if now_s >= 15 else world.replicas

    ledger = await simulate(STEP, PIPELINE, target_percent=60, period_s=15, act=to_four_at_15)
    assert ledger.overload_s == pytest.approx(10.0)
    assert ledger.overload_core_s == pytest.approx(2.0)
    assert ledger.replica_s == pytest.approx(90.0)
    assert [(w.t_s, w.from_replicas, w.to_replicas) for w in ledger.writes] == [(15.0, 2, 4)]
    assert ledger.step_to_write_s(STEP.load_steps_s, 30.0) == [5.0]
    assert ledger.reversals == 0


def test_demand_is_split_over_ready_pods_and_rate_sees_it_after_two_scrapes() -> None:
    world = World(PIPELINE, replicas=2, now_s=0.0)
    for t in range(0, 31):
        world.begin_tick(float(t))
        if t == 10:
            world.set_replicas(3, 10.0)  # ready at 15 s
        world.serve(0.6, float(t))
    old, _, new = world.pods
    # Scrapes at 0, 15, 30. Old pods: 0.3 cores each until 15 s, then 0.2 each.
    old_rate, new_rate = world.rate(old, 30.0), world.rate(new, 30.0)
    assert old_rate is not None and new_rate is not None
    assert old_rate.cores == pytest.approx((15 * 0.3 + 15 * 0.2) / 30)
    # The new pod was created at 10 s: samples at 15 s (0) and 30 s (15 s × 0.2 cores).
    assert new_rate.cores == pytest.approx(0.2)
    assert world.rate(new, 20.0) is None  # one sample only
    assert world.capacity_cores(30.0, 60) == pytest.approx(3 * 0.15)


def test_scaling_down_removes_the_newest_pod_and_it_stops_serving_at_once() -> None:
    world = World(PIPELINE, replicas=3, now_s=0.0)
    newest = world.pods[-1]
    world.set_replicas(2, 1.0)
    assert newest.terminating_since_s == 1.0
    assert newest not in world.ready_pods(1.0)
    world.begin_tick(1.0 + PIPELINE.termination_s)
    assert newest not in world.pods


def test_every_controller_starts_where_the_first_demand_settles_within_the_bounds() -> None:
    assert start_replicas(trace_of((0, 0.6), (10, 0.6)), 60) == 4
    assert start_replicas(trace_of((0, 0.01), (10, 0.6)), 60) == 2
    assert start_replicas(trace_of((0, 9.0), (10, 0.6)), 60) == 5


def test_the_overload_floor_counts_demand_above_the_maximum_of_replicas() -> None:
    spike = trace_of((0, 0.2), (10, 0.2), (10, 0.9), (20, 0.9), (20, 0.2), (30, 0.2))
    assert unavoidable_overload_s(spike, PIPELINE, 60, 30.0) == pytest.approx(10.0)


def test_ledger_counts_reversals_between_opposite_writes() -> None:
    ledger = Ledger(target_percent=60)
    for t, a, b in [(0, 2, 3), (15, 3, 4), (30, 4, 3), (45, 3, 4)]:
        ledger.wrote(t, a, b)
    assert ledger.reversals == 2


def test_the_stored_traces_load_and_name_their_load_steps() -> None:
    assert load_trace("step").load_steps_s == (300.0,)
    assert load_trace("wikipedia_en_day").duration_s == 86_400
