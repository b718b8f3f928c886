"""A running executor over the in-memory scripted cluster, for the human-control tests.

``world(tmp_path, ...)`` makes the clock, the scripted cluster and the settings; ``running(w)``
opens the audit log, recovers from it and runs the executor until the block ends, so two
``running`` blocks in a row are a process restart with the same files.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from claudescale.audit import AuditLog, iter_records
from claudescale.cli.approvals_cmd import Context
from claudescale.config import Settings, parse_settings
from claudescale.core.values import Action, Proposal, Source, WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.ports import Clock, Cluster, MetricsSource
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster, ScriptedWorkload

REF = WorkloadRef("shop", "web")


@dataclass
class World:
    clock: ManualClock
    cluster: ScriptedCluster
    settings: Settings
    audit_path: Path

    @property
    def state_dir(self) -> Path:
        return self.audit_path.with_name(self.audit_path.name + ".state")

    def workload(self, ref: WorkloadRef = REF) -> ScriptedWorkload:
        return self.cluster.get(ref)

    def records(self, *kinds: str) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [r for r in iter_records(self.audit_path) if not kinds or r["kind"] in kinds]


def world(
    tmp_path: Path,
    *,
    mode: str = "supervised",
    replicas: int = 3,
    cpu: float = 85.0,
    refs: tuple[WorkloadRef, ...] = (REF,),
    clock: ManualClock | None = None,
    **settings: Any,
) -> World:
    clock = clock or ManualClock()
    cluster = ScriptedCluster(clock)
    for ref in refs:
        cluster.add(ref, replicas).cpu_percent = cpu
    audit_path = tmp_path / "audit.jsonl"
    values = {"mode": mode, "audit": {"path": str(audit_path)}, **settings}
    return World(clock, cluster, parse_settings(values), audit_path)


@asynccontextmanager
async def running(w: World, settings: Settings | None = None) -> AsyncIterator[Executor]:
    settings = settings or w.settings
    with AuditLog(w.audit_path, 1 << 22, w.clock) as audit:
        executor = Executor(w.cluster, w.cluster, audit, w.clock, settings)
        executor.recover(list(iter_records(w.audit_path)))
        async with anyio.create_task_group() as tg:
            await tg.start(executor.run)
            try:
                with anyio.fail_after(30):
                    yield executor
            finally:
                executor.close()


def up(
    target: int, seen: int, *, source: Source = Source.RULES, ref: WorkloadRef = REF, **fields: Any
) -> Proposal:
    return Proposal(
        ref, Action.SCALE_UP, target, "cpu 85% of requests", source, from_replicas=seen, **fields
    )


def down(
    target: int, seen: int, *, source: Source = Source.RULES, ref: WorkloadRef = REF, **fields: Any
) -> Proposal:
    return Proposal(
        ref, Action.SCALE_DOWN, target, "cpu 10% of requests", source, from_replicas=seen, **fields
    )


def cli_context(w: World, *, answer: str = "y") -> Context:
    """A CLI context on the scripted cluster, with the user answering ``answer``."""

    @asynccontextmanager
    async def connect(
        settings: Settings, clock: Clock
    ) -> AsyncIterator[tuple[Cluster, MetricsSource]]:
        yield w.cluster, w.cluster

    return Context(
        w.settings, clock=w.clock, connect=connect, ask=lambda _: answer, actor="cli:tester"
    )


_HOLDER = """
import sys
from pathlib import Path
from claudescale.audit import AuditLog
from claudescale.testing.clock import ManualClock
log = AuditLog(Path(sys.argv[1]), 1 << 22, ManualClock())
print("ready", flush=True)
sys.stdin.read()
log.close()
"""


@asynccontextmanager
async def service_holding_the_log(w: World) -> AsyncIterator[None]:
    """Another process holds the audit log's writer lock, as the running service does."""
    w.audit_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", _HOLDER, str(w.audit_path)]
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None and process.stdin is not None
        with anyio.fail_after(30):
            assert (await process.stdout.receive()).startswith(b"ready")
        try:
            yield
        finally:
            await process.stdin.aclose()
            with anyio.fail_after(30):
                await process.wait()
