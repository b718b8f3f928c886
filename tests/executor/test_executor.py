"""The executor as the single mutator: concurrency, fresh reads, and external changes."""

from __future__ import annotations

from pathlib import Path

import anyio

from claudescale.core.values import Code, Outcome, WorkloadRef, WorkloadState
from claudescale.errors import Unavailable
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness, ScriptedHarness, hold
from claudescale.testing.harness import down as scale_down
from claudescale.testing.harness import up as scale_up


def harness(
    tmp_path: Path,
    *,
    replicas: int,
    cpu: float,
    cluster_type: type[ScriptedCluster] = ScriptedCluster,
    mode: str = "autonomous",
) -> ScriptedHarness:
    """The real executor over a scripted cluster holding shop/web; run it with ``running()``."""
    return Harness.scripted(
        tmp_path, mode=mode, replicas=replicas, cpu=cpu, cluster_type=cluster_type
    )


async def test_two_proposals_for_one_workload_submitted_at_once_make_exactly_one_write(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0)
    verdicts = []

    async def submit(target: int) -> None:
        verdicts.append(await h.submit(scale_up(target, 3)))

    async with h.running(), anyio.create_task_group() as submitters:
        submitters.start_soon(submit, 4)
        submitters.start_soon(submit, 5)
    assert len(h.workload().writes) == 1
    assert sorted(v.code.value for v in verdicts) == ["busy", "ok"]
    assert len(h.records("intent")) == 1
    assert len(h.records("verdict")) == 2


async def test_a_conflict_is_not_retried_with_the_new_numbers(tmp_path: Path) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0)
    h.workload().fail_next_write = 409
    async with h.running():
        verdict = await h.submit(scale_up(4, 3))
    assert (verdict.outcome, verdict.code) == (Outcome.BLOCKED, Code.CONFLICT)
    assert h.workload().writes == [] and h.workload().replicas == 3


class LostAnswer(ScriptedCluster):
    """The write lands, but its answer never arrives."""

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        await super().scale(ref, replicas, resource_version)
        raise TimeoutError("the answer was lost")


async def test_a_lost_answer_is_checked_by_a_re_read_before_calling_it_failed(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0, cluster_type=LostAnswer)
    async with h.running() as executor:
        verdict = await h.submit(scale_up(4, 3))
    assert verdict.code is Code.OK and h.workload().replicas == 4
    assert executor.history(REF).last_scale_up_at == h.clock.now()


async def test_an_external_change_seen_by_the_loop_restarts_the_scale_down_cooldown(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, replicas=4, cpu=10.0)
    async with h.running() as executor:
        executor.observe([h.cluster.state(REF)], read_started_at=h.clock.now())
        h.clock.advance(500)
        h.cluster.set_replicas_externally(REF, 5)
        executor.observe([h.cluster.state(REF)], read_started_at=h.clock.now())
        h.clock.advance(179)
        early = await h.submit(scale_down(4, 5))
        h.clock.advance(1)
        on_time = await h.submit(scale_down(4, 5))
    assert (early.code, on_time.code) == (Code.COOLDOWN_DOWN, Code.OK)
    assert [(r["from"], r["replicas"]) for r in h.records("external_change")] == [(4, 5)]


async def test_a_read_that_started_before_our_write_is_not_an_external_change(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0)
    old_read, read_at = h.cluster.state(REF), h.clock.now()
    h.clock.advance(1)
    async with h.running() as executor:
        assert (await h.submit(scale_up(4, 3))).code is Code.OK
        executor.observe([old_read], read_started_at=read_at)
    assert h.records("external_change") == []
    assert executor.history(REF).last_known_replicas == 4


async def test_observe_mode_evaluates_and_records_but_never_writes(tmp_path: Path) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0, mode="observe")
    async with h.running():
        verdict = await h.submit(scale_up(4, 3))
    assert verdict.code is Code.DRY_RUN and h.workload().writes == []
    assert [r["code"] for r in h.records("verdict")] == ["dry_run"]


class LostAnswerAndBlind(ScriptedCluster):
    """The write lands, its answer is lost, and the workload cannot be re-read."""

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        await super().scale(ref, replicas, resource_version)
        self.blind = True
        raise TimeoutError("the answer was lost")

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        if getattr(self, "blind", False):
            self.blind = False
            raise Unavailable("the API server is not answering")
        return await super().read_workload(ref)


async def test_a_write_we_cannot_confirm_counts_as_executed_for_the_cooldowns(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0, cluster_type=LostAnswerAndBlind)
    async with h.running():
        first = await h.submit(scale_up(4, 3))
        h.clock.advance(5)
        second = await h.submit(scale_up(5, 4))
    assert first.code is Code.WRITE_FAILED
    assert second.code is Code.COOLDOWN_UP
    assert h.workload().writes == [(3, 4)]
    assert [r["code"] for r in h.records("outcome")] == ["unknown"]


class Broken(ScriptedCluster):
    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        raise KeyError("metadata")


async def test_an_adapter_bug_yields_a_verdict_and_the_executor_carries_on(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0, cluster_type=Broken)
    async with h.running():
        verdict = await h.submit(scale_up(4, 3))
        held = await h.submit(hold(3))
    assert verdict.code is Code.WRITE_FAILED and "KeyError" in verdict.message
    assert held.code is Code.HOLD
    assert len(h.records("verdict")) == 2
    assert len(h.records("intent")) == len(h.records("outcome")) == 1


async def test_a_loop_read_older_than_the_executors_own_read_is_ignored(tmp_path: Path) -> None:
    h = harness(tmp_path, replicas=3, cpu=50.0)
    slow_read_at = h.clock.now()
    h.cluster.set_replicas_externally(REF, 5)
    slow_read = h.cluster.state(REF)
    h.cluster.set_replicas_externally(REF, 3)
    h.clock.advance(1)
    async with h.running() as executor:
        await h.submit(hold(3))
        executor.observe([slow_read], read_started_at=slow_read_at)
    assert h.records("external_change") == []


async def test_every_proposal_gets_an_id_that_joins_its_records(tmp_path: Path) -> None:
    h = harness(tmp_path, replicas=3, cpu=90.0)
    async with h.running():
        await h.submit(scale_up(4, 3))
    ids = {
        r["proposal_id"]
        for kind in ("proposal", "intent", "outcome", "verdict")
        for r in h.records(kind)
    }
    assert len(ids) == 1 and ids != {""}
