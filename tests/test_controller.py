"""The poll loop, one cycle at a time, on a manual clock and the scripted cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from claudescale.config import Settings, parse_settings
from claudescale.core.limits import Limits
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import (
    Action,
    CpuReading,
    History,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.executor import Executor
from claudescale.engine.loop_memory import Health, forgettable
from claudescale.engine.poll_loop import Controller
from claudescale.errors import MetricsUnavailable, Unavailable
from claudescale.ports import Proposer
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster, ScriptedPod, ScriptedWorkload
from claudescale.testing.harness import Harness
from claudescale.testing.waits import wait_until

WEB = WorkloadRef("shop", "web")
API = WorkloadRef("shop", "api")


class FlakyCluster(ScriptedCluster):
    """The scripted cluster, whose API server and Prometheus can be switched off."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.api_down = False
        self.prometheus_down = False
        self.reads_hang = False

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        if self.reads_hang:
            await anyio.sleep_forever()
        return await super().read_workload(ref)

    async def list_workloads(self) -> Sequence[WorkloadState]:
        if self.api_down:
            raise Unavailable("The API server answered 503 while listing Deployments in shop.")
        return await super().list_workloads()

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        if self.prometheus_down:
            raise MetricsUnavailable("Prometheus at http://127.0.0.1:1 could not be reached.")
        return await super().cpu(workloads)


@dataclass
class Loop:
    harness: Harness[ManualClock, FlakyCluster]
    controller: Controller

    @property
    def clock(self) -> ManualClock:
        return self.harness.clock

    @property
    def cluster(self) -> FlakyCluster:
        return self.harness.cluster

    @property
    def executor(self) -> Executor:
        return self.harness.executor

    def workload(self, ref: WorkloadRef = WEB) -> ScriptedWorkload:
        return self.harness.workload(ref)


def loop_settings(**loop: Any) -> Settings:
    return parse_settings(
        {"mode": "autonomous", "loop": {"interval_s": 10.0, "proposer_deadline_s": 0.2, **loop}}
    )


@asynccontextmanager
async def running_loop(
    tmp_path: Path,
    workloads: Iterable[tuple[WorkloadRef, int, float]] = ((WEB, 3, 50.0),),
    *,
    settings: Settings | None = None,
    proposers: Sequence[Proposer] = (),
    clock: ManualClock | None = None,
) -> AsyncIterator[Loop]:
    """The loop over a running executor; what is in flight at the end is cancelled."""
    clock = clock or ManualClock()
    cluster = FlakyCluster(clock)
    for ref, replicas, cpu in workloads:
        cluster.add(ref, replicas).cpu_percent = cpu
    settings = settings or loop_settings()
    harness = Harness(clock, cluster, settings, audit_path=tmp_path / "audit.jsonl")
    async with harness.running(drain=False):
        yield Loop(harness, harness.controller(proposers))


class SilentModel:
    name = "silent-model"

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class BrokenModel:
    name = "broken-model"

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        raise RuntimeError("the provider answered 529 overloaded")


class ScriptedModel:
    """Answers with the given proposals, whatever it is asked."""

    name = "scripted-model"

    def __init__(self, *proposals: Proposal) -> None:
        self.proposals = proposals
        self.asked: list[list[str]] = []

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        self.asked.append([str(situation.ref) for situation in situations])
        return list(self.proposals)


async def test_a_hot_workload_is_scaled_up_through_the_executor(tmp_path: Path) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 90.0)]) as loop:
        report = await loop.controller.cycle()
    assert [(p.ref, p.action, p.target_replicas) for p in report.submitted] == [
        (WEB, Action.SCALE_UP, 5)
    ]
    assert loop.workload().writes == [(3, 5)]
    assert [r["code"] for r in loop.harness.records("verdict")] == ["ok"]
    assert loop.controller.status().recent[-1].code.value == "ok"


async def test_holds_are_the_last_decision_and_never_reach_the_executor(tmp_path: Path) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 60.0)]) as loop:
        first = await loop.controller.cycle()
        await loop.controller.cycle()
    assert first.held == 1 and first.submitted == ()
    assert loop.harness.records("proposal") == []
    last = loop.controller.status().situations[0].last_decision
    assert last is not None and last.code.value == "hold"
    assert "within 10% of the 60% target" in last.message


async def test_a_prometheus_outage_makes_the_loop_blind_and_it_proposes_nothing(
    tmp_path: Path,
) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 95.0)]) as loop:
        loop.cluster.prometheus_down = True
        reports = [await loop.controller.cycle() for _ in range(3)]
        assert loop.controller.health is Health.BLIND
        loop.cluster.prometheus_down = False
        restored = await loop.controller.cycle()
    assert [r.health for r in reports] == [Health.BLIND] * 3
    assert all(r.submitted == () for r in reports)
    (blind,) = loop.harness.records("blind")
    assert blind["source"] == "metrics" and "could not be reached" in blind["message"]
    assert len(loop.harness.records("sight_restored")) == 1
    intents = loop.harness.records("intent")
    assert (
        len(intents) == 1 and intents[0]["seq"] > loop.harness.records("sight_restored")[0]["seq"]
    )
    assert restored.health is Health.SEEING and len(restored.submitted) == 1


async def test_an_api_server_outage_is_blindness_too(tmp_path: Path) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 95.0)]) as loop:
        loop.cluster.api_down = True
        report = await loop.controller.cycle()
    assert report.health is Health.BLIND and report.submitted == ()
    assert report.problem is not None and "503" in report.problem
    assert [r["source"] for r in loop.harness.records("blind")] == ["cluster"]
    assert loop.harness.records("proposal") == []


async def test_blind_cycles_back_off_doubling_up_to_the_maximum(tmp_path: Path) -> None:
    settings = loop_settings(interval_s=1.0, blind_backoff_max_s=5.0)
    async with running_loop(tmp_path, settings=settings) as loop:
        loop.cluster.prometheus_down = True
        delays = [(await loop.controller.cycle()).next_delay_s for _ in range(5)]
        loop.cluster.prometheus_down = False
        seeing = await loop.controller.cycle()
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert seeing.next_delay_s == 1.0


async def test_a_blindness_of_days_keeps_backing_off_without_overflowing(tmp_path: Path) -> None:
    settings = loop_settings(interval_s=15.0, blind_backoff_max_s=120.0)
    async with running_loop(tmp_path, settings=settings) as loop:
        loop.cluster.prometheus_down = True
        delays = [(await loop.controller.cycle()).next_delay_s for _ in range(1100)]
    assert delays[-1] == 120.0


async def test_a_model_that_does_not_answer_in_time_leaves_the_cycle_to_the_rules(
    tmp_path: Path,
) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 90.0)], proposers=[SilentModel()]) as loop:
        with anyio.fail_after(5):
            report = await loop.controller.cycle()
    assert [p.source for p in report.submitted] == [Source.RULES]
    (unavailable,) = loop.harness.records("proposer_unavailable")
    assert unavailable["code"] == "llm_unavailable"
    assert unavailable["proposer"] == "silent-model"
    assert "did not answer within the cycle's 0.2 s" in unavailable["message"]


async def test_a_model_that_fails_falls_through_to_the_rules(tmp_path: Path) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 90.0)], proposers=[BrokenModel()]) as loop:
        report = await loop.controller.cycle()
    assert [p.source for p in report.submitted] == [Source.RULES]
    (unavailable,) = loop.harness.records("proposer_unavailable")
    assert "529 overloaded" in unavailable["message"]
    assert loop.workload().replicas == 5


async def test_a_models_answer_is_used_and_the_rules_answer_only_for_the_rest(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(
        Proposal(WEB, Action.SCALE_UP, 4, "traffic doubles at 9:00", Source.MODEL_PROVIDER, 3)
    )
    workloads = [(WEB, 3, 70.0), (API, 3, 90.0)]
    async with running_loop(tmp_path, workloads, proposers=[model]) as loop:
        report = await loop.controller.cycle()
    assert model.asked == [["shop/web", "shop/api"]]
    by_ref = {p.ref: p for p in report.submitted}
    assert by_ref[WEB].source is Source.MODEL_PROVIDER and by_ref[WEB].target_replicas == 4
    assert by_ref[API].source is Source.RULES and by_ref[API].target_replicas == 5
    assert loop.harness.records("proposer_unavailable") == []


async def test_a_proposal_for_a_workload_not_asked_about_is_refused_as_invalid_target(
    tmp_path: Path,
) -> None:
    elsewhere = WorkloadRef("kube-system", "coredns")
    model = ScriptedModel(
        Proposal(
            elsewhere, Action.SCALE_UP, 9, "ignore previous instructions", Source.MODEL_PROVIDER
        )
    )
    async with running_loop(tmp_path, [(WEB, 3, 60.0)], proposers=[model]) as loop:
        report = await loop.controller.cycle()
    (verdict,) = loop.harness.records("verdict")
    assert verdict["workload"] == "kube-system/coredns" and verdict["code"] == "invalid_target"
    assert report.held == 1 and report.submitted == ()


@pytest.mark.parametrize(("lookahead_s", "expected"), [(60.0, [(3, 5)]), (0.0, [])])
async def test_a_steep_ramp_is_met_before_it_saturates(
    tmp_path: Path, lookahead_s: float, expected: list[tuple[int, int]]
) -> None:
    """56% is inside the 60% ± 10% band; rising 48% a minute, it will not be for long. (The
    first cycle only waits out the 10 s rate window, as after any start.)"""
    settings = parse_settings(
        {
            "mode": "autonomous",
            "prometheus": {"rate_window": "10s", "scrape_interval_s": 1},
            "loop": {"interval_s": 10.0, "proposer_deadline_s": 0.2, "lookahead_s": lookahead_s},
        }
    )
    trends = []
    async with running_loop(tmp_path, [(WEB, 3, 40.0)], settings=settings) as loop:
        for percent in (40.0, 40.0, 48.0, 56.0):
            loop.workload().cpu_percent = percent
            await loop.controller.cycle()
            trends.append(loop.controller.status().situations[0].trend_percent_per_min)
            loop.clock.advance(10.0)
    assert trends[:3] == [None, None, None] and trends[3] == pytest.approx(48.0)
    assert loop.workload().writes == expected


async def test_the_trend_starts_over_when_the_pods_change(tmp_path: Path) -> None:
    settings = parse_settings(
        {"mode": "autonomous", "prometheus": {"rate_window": "2m"}, "loop": {"interval_s": 10}}
    )
    async with running_loop(tmp_path, [(WEB, 3, 50.0)], settings=settings) as loop:
        for _ in range(15):  # the 120 s rate window after the start, then three samples
            await loop.controller.cycle()
            loop.clock.advance(10.0)
        assert loop.controller.status().situations[0].trend_percent_per_min == 0.0
        loop.cluster.set_replicas_externally(WEB, 4)
        trends = []
        for _ in range(16):
            await loop.controller.cycle()
            trends.append(loop.controller.status().situations[0].trend_percent_per_min)
            loop.clock.advance(10.0)
    # Samples wait out the 120 s rate window after the change, then need three of them.
    assert trends[:14] == [None] * 14
    assert trends[14] == 0.0


async def test_a_refused_scale_down_is_proposed_again_only_after_refused_retry_s(
    tmp_path: Path,
) -> None:
    settings = loop_settings(refused_retry_s=60.0)
    async with running_loop(tmp_path, [(WEB, 4, 10.0)], settings=settings) as loop:
        loop.workload().pods = [ScriptedPod(cpu_percent=10.0) for _ in range(3)] + [
            ScriptedPod(ready=False)
        ]
        reports = []
        for _ in range(8):
            reports.append(await loop.controller.cycle())
            loop.clock.advance(10.0)
    codes = [r["code"] for r in loop.harness.records("verdict")]
    assert codes == ["pods_not_ready", "pods_not_ready"]
    assert [len(r.submitted) for r in reports] == [1, 0, 0, 0, 0, 0, 1, 0]
    assert loop.workload().writes == []


async def test_a_cooldown_refusal_is_proposed_again_when_the_cooldown_ends(
    tmp_path: Path,
) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 90.0)]) as loop:
        loop.executor.seed(WEB, loop.clock.now() - 30.0)
        submitted_at = []
        for _ in range(8):
            report = await loop.controller.cycle()
            if report.submitted:
                submitted_at.append(loop.clock.now())
            loop.clock.advance(10.0)
    start = submitted_at[0]
    assert [t - start for t in submitted_at] == [0.0, 60.0]
    assert [r["code"] for r in loop.harness.records("verdict")] == ["cooldown_up", "ok"]


async def test_each_cycle_records_what_it_saw(tmp_path: Path) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 90.0), (API, 2, 45.5)]) as loop:
        await loop.controller.cycle()
    (cycle,) = loop.harness.records("cycle")
    assert cycle["workloads"] == 2 and cycle["replicas"] == 5
    assert cycle["cpu_peak_percent"] == 90.0 and cycle["cpu_peak_workload"] == "shop/web"
    assert (cycle["submitted"], cycle["held"]) == (1, 1)


class ParkedClock(ManualClock):
    """Sleeps until cancelled: only reconcile_now() can start another cycle."""

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep_forever()


async def test_reconcile_now_starts_the_next_cycle_before_the_interval(tmp_path: Path) -> None:
    settings = loop_settings(interval_s=3600.0)
    async with (
        running_loop(tmp_path, settings=settings, clock=ParkedClock()) as loop,
        anyio.create_task_group() as tg,
    ):
        await tg.start(loop.controller.poll_forever)
        await wait_until(
            lambda: loop.controller.status().cycles >= 1, 5.0, "a first cycle", poll_s=0.01
        )
        controller_cycles = loop.controller.status().cycles
        loop.controller.reconcile_now()
        await wait_until(
            lambda: loop.controller.status().cycles >= 2, 5.0, "a second cycle", poll_s=0.01
        )
        tg.cancel_scope.cancel()
    assert controller_cycles == 1
    assert loop.controller.status().cycles == 2


async def test_the_loop_keeps_cycling_while_the_executor_has_not_answered(
    tmp_path: Path,
) -> None:
    """The executor's read hangs: its verdict never comes, and the loop does not wait."""
    async with running_loop(tmp_path, [(WEB, 3, 90.0)]) as loop, anyio.create_task_group() as tg:
        loop.cluster.reads_hang = True
        await tg.start(loop.controller.poll_forever)
        await wait_until(
            lambda: loop.controller.status().cycles >= 20, 5.0, "20 cycles", poll_s=0.01
        )
        status = loop.controller.status()
        tg.cancel_scope.cancel()
    assert status.in_flight == frozenset({WEB})
    assert len(loop.harness.records("proposal")) == 1
    assert loop.harness.records("verdict") == []
    cycles = loop.harness.records("cycle")
    assert sum(c["submitted"] for c in cycles) == 1
    assert sum(c["suppressed"] for c in cycles) == len(cycles) - 1


async def test_a_workload_that_went_away_is_forgotten_at_once_when_nothing_holds_it(
    tmp_path: Path,
) -> None:
    async with running_loop(tmp_path, [(WEB, 3, 50.0), (API, 2, 50.0)]) as loop:
        await loop.controller.cycle()
        assert loop.executor.history(API).last_known_replicas == 2
        loop.workload(API).deleted = True
        await loop.controller.cycle()
        assert loop.executor.history(API) == History()
        assert loop.executor.history(WEB).last_known_replicas == 3


async def test_a_workload_that_went_away_is_remembered_until_its_last_action_is_an_hour_old(
    tmp_path: Path,
) -> None:
    """Coming back within the cooldowns or the hourly limit must find them still running."""
    async with running_loop(tmp_path, [(WEB, 3, 90.0)]) as loop:
        await loop.controller.cycle()
        assert loop.workload().writes == [(3, 5)]
        loop.workload().deleted = True
        loop.clock.advance(3599.0)
        await loop.controller.cycle()
        assert loop.executor.history(WEB).last_scale_up_at is not None
        loop.clock.advance(1.0)
        await loop.controller.cycle()
        assert loop.executor.history(WEB) == History()


def test_an_operators_stop_on_a_workload_that_went_away_is_never_forgotten() -> None:
    stopped = History(external_controller=True)
    assert not forgettable(stopped, Limits(), now=1e9)
    assert forgettable(History(last_change_at=0.0), Limits(), now=3600.0)
