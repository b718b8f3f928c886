"""The engine's gate (``engine.leadership``): a follower's executor refuses every change
before it reads or judges anything (no approval requested, no snapshot, no intent), a lease
lost while a proposal is judged stops the PATCH itself, and Events explain only the leader's
verdicts, beside whatever hook was installed on the executor before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from claudescale.adapters.system_clock import SystemClock
from claudescale.config import parse_settings
from claudescale.core.values import Code, Outcome, Proposal, Verdict, WorkloadRef
from claudescale.engine.leadership import NOT_LEADER
from claudescale.engine.service import Service
from claudescale.ports import Clock
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, read_records, up
from claudescale.testing.sandbox import wait_until


class Answers:
    """A ``Leadership`` that answers ``may_write`` from a script (the last answer repeats)."""

    def __init__(self, answers: Iterable[bool]) -> None:
        self._answers = list(answers)
        self.asked = 0

    def may_write(self) -> bool:
        self.asked += 1
        return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]


class Recorded:
    """An ``EventRecorder`` that keeps what it was told."""

    def __init__(self) -> None:
        self.verdicts: list[tuple[WorkloadRef, Verdict]] = []

    def record(self, ref: WorkloadRef, verdict: Verdict) -> None:
        self.verdicts.append((ref, verdict))


def _service(
    tmp_path: Path, clock: Clock, leadership: Answers, mode: str, **kwargs: Any
) -> tuple[Service, ScriptedCluster]:
    cluster = ScriptedCluster(clock)
    cluster.add(REF, 3).cpu_percent = 85.0
    settings = parse_settings(
        {
            "mode": mode,
            "audit": {"path": str(tmp_path / "audit.jsonl")},
            "cluster": {"namespaces": ["shop"]},
            "loop": {"interval_s": 0.2, "lookahead_s": 0.0, "refused_retry_s": 0.2},
            "service": {"port": 0},
        }
    )
    service = Service(
        settings, cluster=cluster, metrics=cluster, clock=clock, leadership=leadership, **kwargs
    )
    return service, cluster


@asynccontextmanager
async def _executor_only(service: Service) -> AsyncIterator[None]:
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(service.executor.run)
            yield
            service.executor.close()
    finally:
        service.audit.close()


async def _submit(service: Service, proposal: Proposal) -> Verdict:
    async with _executor_only(service):
        with anyio.fail_after(10):
            return await service.executor.submit(proposal)


async def test_a_follower_refuses_before_it_reads_judges_or_asks_anyone(tmp_path: Path) -> None:
    service, cluster = _service(tmp_path, ManualClock(), Answers([False]), "supervised")

    verdict = await _submit(service, up(4, 3))

    assert (verdict.outcome, verdict.code) == (Outcome.BLOCKED, Code.NOT_LEADER)
    assert verdict.message == f"Refused scaling shop/web to 4: {NOT_LEADER}"
    audit = tmp_path / "audit.jsonl"
    assert read_records(audit, "evaluation", "intent", "approval_requested") == []
    assert service.executor.control.approvals.list() == []
    assert cluster.get(REF).writes == []


async def test_a_lease_lost_while_judging_stops_the_patch_and_records_why(
    tmp_path: Path,
) -> None:
    leadership = Answers([True, False])  # leader at the start, no longer at the write
    service, cluster = _service(tmp_path, ManualClock(), leadership, "autonomous")

    verdict = await _submit(service, up(4, 3))

    assert verdict.code is Code.NOT_LEADER and NOT_LEADER in verdict.message
    assert leadership.asked == 2
    [outcome] = read_records(tmp_path / "audit.jsonl", "outcome")
    assert (outcome["code"], outcome["message"]) == ("not_leader", NOT_LEADER)
    assert cluster.get(REF).writes == []


async def test_events_explain_the_leaders_verdicts_and_earlier_hooks_still_hear_them(
    tmp_path: Path,
) -> None:
    events, heard = Recorded(), []
    service, cluster = _service(
        tmp_path, SystemClock(), Answers([True]), "autonomous", events=events
    )
    service.executor.add_verdict_listener(lambda proposal, verdict: heard.append(verdict))

    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run)
        await wait_until(lambda: cluster.get(REF).writes != [], 10, "a scale-up")
        await wait_until(lambda: events.verdicts != [], 10, "its Event")
        service.stop()

    ref, verdict = events.verdicts[0]
    assert ref == REF and verdict.outcome is Outcome.EXECUTED
    assert heard[0] == verdict


async def test_a_follower_leaves_the_explaining_to_the_leader(tmp_path: Path) -> None:
    events = Recorded()
    service, _ = _service(tmp_path, SystemClock(), Answers([False]), "autonomous", events=events)

    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run)
        audit = tmp_path / "audit.jsonl"
        await wait_until(lambda: read_records(audit, "verdict") != [], 10, "a refusal")
        service.stop()

    assert events.verdicts == []
