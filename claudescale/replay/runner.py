"""Runs a replay scenario through the real executor and guardrails on a fake clock.

Layer: orchestration for the ``replay`` command. The executor, the guardrails, the reply
parser and the audit log are the production ones; only the cluster (scripted, in memory) and
the clock (manual) are stand-ins. One output line per proposal submitted.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from claudescale.audit import AuditLog, recover_from
from claudescale.config import Settings, state_dir_for
from claudescale.core.replies import ParseFailure, parse_reply
from claudescale.core.values import Action, Proposal, Source, Verdict
from claudescale.engine.audit_fields import record_unqueued
from claudescale.engine.executor import Executor
from claudescale.replay.scenario import Scenario, Step, replay_settings
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster, ScriptedPod, ScriptedWorkload

Emit = Callable[[dict[str, Any]], None]


class ReplayRun:
    """One replay: owns the clock, the scripted cluster, the audit log and the executor."""

    def __init__(self, scenario: Scenario, audit_path: Path, *, explain: bool = False) -> None:
        self.scenario = scenario
        self.audit_path = audit_path
        self.explain = explain
        self.clock = ManualClock()
        self.origin = self.clock.now()
        self.ref = scenario.workload.ref
        settings = replay_settings(scenario)
        self.settings: Settings = settings.model_copy(
            update={"audit": settings.audit.model_copy(update={"path": audit_path})}
        )
        self.cluster = ScriptedCluster(self.clock)
        self.workload: ScriptedWorkload = self.cluster.add(self.ref, scenario.start.replicas)
        self.executor = self._new_executor()

    def _new_executor(self) -> Executor:
        self.audit = AuditLog(self.audit_path, self.settings.audit.rotate_bytes, self.clock)
        state_dir = state_dir_for(self.settings, self.audit.path)
        return Executor(
            self.cluster, self.cluster, self.audit, self.clock, self.settings, state_dir=state_dir
        )

    async def run(self, emit: Emit) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        async with self.running():
            for step in self.scenario.steps:
                for line in await self.play(step):
                    lines.append(line)
                    emit(line)
        return lines

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The executor task runs inside this block; ``play`` steps through it."""
        ago = self.scenario.start.last_action_ago_s
        self.executor.recover([])
        if ago is not None:
            self.executor.seed(self.ref, self.origin - ago)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._stopped = await _start(tg, self.executor)
            try:
                yield
            finally:
                self.executor.close()
        self.audit.close()

    async def play(self, step: Step) -> list[dict[str, Any]]:
        """One step of the timeline; returns one line per proposal it submitted."""
        self.clock.advance(max(0.0, self.origin + step.t - self.clock.now()))
        if step.wall_clock_jump_s:
            self.clock.jump_wall(step.wall_clock_jump_s)
        if step.restart is not None:
            self.executor.close()
            await self._stopped.wait()
            self._restart(durable_state=step.restart.durable_state)
            self._stopped = await _start(self._tg, self.executor)
        self._apply(step)
        return [self._line(step, verdict) for verdict in await self._propose(step)]

    def _restart(self, *, durable_state: bool) -> None:
        self.audit.close()
        if not durable_state:
            _remove_log(self.audit_path)
        self.executor = self._new_executor()
        recovery = recover_from(self.audit)
        self.executor.recover(recovery.records, damage=recovery.damage)

    def _apply(self, step: Step) -> None:
        cluster, workload = self.cluster, self.workload
        if step.workload is not None:
            change = step.workload
            if change.paused is not None:
                workload.paused = change.paused
            if "owner" in change.model_fields_set:
                workload.owner = change.owner
            if change.rollout_in_progress is not None:
                workload.rollout_in_progress = change.rollout_in_progress
            if change.deleted is not None:
                workload.deleted = change.deleted
            cluster.touch(self.ref)
        if step.external_replicas is not None:
            cluster.set_replicas_externally(self.ref, step.external_replicas)
        if step.cpu_given and step.cpu is not None:
            workload.pods = None
            workload.cpu_percent = step.cpu.value
            workload.cpu_age_s = step.cpu.age_s
        if step.pods is not None:
            workload.cpu_age_s = 0.0
            workload.pods = [
                ScriptedPod(ready=p.ready, terminating=p.terminating, cpu_percent=p.cpu)
                for p in step.pods
            ]
        if step.write_fails is not None:
            workload.fail_next_write = step.write_fails
        if not workload.deleted:
            # What the poll loop would do each cycle: notice changes nobody here made.
            state = cluster.state(self.ref)
            self.executor.observe([state], read_started_at=self.clock.now())

    async def _propose(self, step: Step) -> list[Verdict]:
        proposal = self._proposal(step)
        if proposal is None:
            return []
        if isinstance(proposal, ParseFailure):
            bare = Proposal(
                self.ref,
                Action.HOLD,
                self.workload.replicas,
                "",
                Source.MODEL_PROVIDER,
                from_replicas=self.workload.replicas,
                proposal_id=f"t{step.t:g}",
            )
            return [
                record_unqueued(self.audit, bare, proposal.code, proposal.message)
                for _ in range(step.concurrent)
            ]
        verdicts: list[Verdict | None] = [None] * step.concurrent

        async def submit(index: int) -> None:
            copy = replace(proposal, proposal_id=f"{proposal.proposal_id}.{index}")
            verdicts[index] = await self.executor.submit(copy)

        async with anyio.create_task_group() as tg:
            for index in range(step.concurrent):
                tg.start_soon(submit, index)
        return [v for v in verdicts if v is not None]

    def _proposal(self, step: Step) -> Proposal | ParseFailure | None:
        replicas = self.workload.replicas
        if step.llm_text is not None:
            return parse_reply(
                step.llm_text, asked=self.ref, source=Source.MODEL_PROVIDER, from_replicas=replicas
            )
        if step.propose is None:
            return None
        spec = step.propose
        return Proposal(
            ref=self.ref,
            action=Action(spec.action),
            target_replicas=spec.target_replicas,
            reason=spec.reason,
            source=Source.REPLAY,
            from_replicas=spec.from_replicas if spec.from_replicas is not None else replicas,
            proposal_id=f"t{step.t:g}",
        )

    def _line(self, step: Step, verdict: Verdict) -> dict[str, Any]:
        t: float | int = int(step.t) if float(step.t).is_integer() else step.t
        line: dict[str, Any] = {
            "t": t,
            "outcome": "blocked" if verdict.outcome.value == "pending" else verdict.outcome.value,
            "code": verdict.code.value,
            "replicas": self.workload.replicas,
        }
        if self.explain:
            line["message"] = verdict.message
        return line


async def _start(tg: TaskGroup, executor: Executor) -> anyio.Event:
    stopped = anyio.Event()

    async def run(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await executor.run(task_status=task_status)
        finally:
            stopped.set()

    await tg.start(run)
    return stopped


def _remove_log(path: Path) -> None:
    for candidate in path.parent.glob(path.name + "*"):
        if candidate.is_dir():
            shutil.rmtree(candidate)
        else:
            candidate.unlink()
