"""A harness that runs the real executor, for claudescale's tests and for users' own.

Layer: testing (public). It assembles the world an executor needs (a clock, a cluster and a
metrics source, the settings, a hash-chained audit log in a directory of the caller's) and
runs ``claudescale.engine.executor.Executor`` in a task group, one ``running()`` block per
process lifetime: two blocks in a row are a restart over the same files. It is the one place
in the tests that constructs an ``Executor``, and it reaches into none of the executor's
internals: the human-control stores it offers are opened from the state directory, as the CLI
opens them. It must not be imported by product code.

    harness = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0)
    async with harness.running():
        verdict = await harness.submit(up(4, 3))
    assert harness.records("intent")
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio

from claudescale.audit import AuditLog, iter_records, recover_from
from claudescale.audit.state import StatePolicy
from claudescale.cli.approvals_cmd import Context
from claudescale.config import Settings, parse_settings, state_dir_for
from claudescale.control.approvals import ApprovalStore
from claudescale.control.overrides import OverrideStore
from claudescale.control.snapshots import SnapshotStore
from claudescale.control.stores import ControlStores
from claudescale.core.values import Action, Proposal, Source, Verdict, WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.engine.poll_loop import Controller
from claudescale.ports import Clock, Cluster, MetricsSource, Proposer
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster, ScriptedWorkload

REF = WorkloadRef("shop", "web")
"""The workload a scripted harness holds unless told otherwise."""
DEADLINE_S = 30.0
"""Real seconds one ``running()`` block may take: a test that hangs fails instead."""

ClockT = TypeVar("ClockT", bound=Clock)
ClusterT = TypeVar("ClusterT", bound=Cluster)


def read_records(
    path: Path, *kinds: str, workload: str | WorkloadRef | None = None
) -> list[dict[str, Any]]:
    """The audit log's records, oldest first; only ``kinds`` (all when none) and only those
    of ``workload`` when given. A log that does not exist yet has no records."""
    if not path.exists():
        return []
    wanted = None if workload is None else str(workload)
    return [
        r
        for r in iter_records(path)
        if (not kinds or r["kind"] in kinds) and (wanted is None or r.get("workload") == wanted)
    ]


class Harness(Generic[ClockT, ClusterT]):
    """The real executor over a cluster and metrics source of the test's choosing."""

    def __init__(
        self,
        clock: ClockT,
        cluster: ClusterT,
        settings: Settings,
        *,
        audit_path: Path | None = None,
        metrics: MetricsSource | None = None,
        deadline_s: float = DEADLINE_S,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        """``audit_path`` replaces the settings' ``audit.path``; ``metrics`` defaults to the
        cluster when it is a ``ScriptedCluster`` (which is both); ``fsync`` is the audit
        log's (a benchmark may measure without it)."""
        if audit_path is not None:
            audit = settings.audit.model_copy(update={"path": audit_path})
            settings = settings.model_copy(update={"audit": audit})
        if metrics is None:
            if not isinstance(cluster, ScriptedCluster):
                raise TypeError("Give the harness a metrics source: the cluster is not one.")
            metrics = cluster
        self.clock = clock
        self.cluster = cluster
        self.metrics = metrics
        self.settings = settings
        self.deadline_s = deadline_s
        self._fsync = fsync
        self._executor: Executor | None = None
        self._audit: AuditLog | None = None

    @classmethod
    def scripted(
        cls,
        directory: Path,
        *,
        mode: str = "supervised",
        replicas: int = 3,
        cpu: float | None = 85.0,
        refs: Iterable[WorkloadRef] = (REF,),
        clock: ManualClock | None = None,
        cluster_type: type[ScriptedCluster] = ScriptedCluster,
        **settings: Any,
    ) -> Harness[ManualClock, ScriptedCluster]:
        """A manual clock and a scripted cluster holding ``refs`` at ``replicas`` replicas and
        ``cpu`` percent; the audit log is ``directory/audit.jsonl``. Other keyword arguments
        are settings groups (``guardrails={...}``, ``approvals={...}``)."""
        clock = clock or ManualClock()
        cluster = cluster_type(clock)
        for ref in refs:
            cluster.add(ref, replicas).cpu_percent = cpu
        # The production default: a start reads the tail after the recovered-state snapshot.
        # A test that must see a change before the snapshot at start-up passes
        # ``audit={"full_verify_at_start": True}``.
        audit = {"path": str(directory / "audit.jsonl"), **settings.pop("audit", {})}
        values = {"mode": mode, "audit": audit, **settings}
        return Harness(clock, cluster, parse_settings(values))

    # -- the files --------------------------------------------------------------------------

    @property
    def audit_path(self) -> Path:
        return self.settings.audit.path

    @property
    def state_dir(self) -> Path:
        """Where the approvals, overrides and snapshots of this world live."""
        return state_dir_for(self.settings, self.audit_path)

    def records(
        self, *kinds: str, workload: str | WorkloadRef | None = None
    ) -> list[dict[str, Any]]:
        """The audit log's records so far (see ``read_records``)."""
        return read_records(self.audit_path, *kinds, workload=workload)

    # -- the executor -----------------------------------------------------------------------

    @asynccontextmanager
    async def running(
        self,
        settings: Settings | None = None,
        *,
        recover: bool = True,
        drain: bool = True,
    ) -> AsyncIterator[Executor]:
        """One process lifetime: open the audit log, build the executor, recover it from the
        log (``recover=False``: from nothing), and run it until the block ends. Then the
        queue is closed and, with ``drain``, the executor finishes what is in flight;
        without, it is cancelled (for a test that leaves a read hanging on purpose). The
        whole block fails after ``deadline_s`` real seconds."""
        settings = settings or self.settings
        with anyio.fail_after(self.deadline_s), self._open(settings) as audit:
            executor = self._executor = Executor(
                self.cluster, self.metrics, audit, self.clock, settings, state_dir=self.state_dir
            )
            full = settings.audit.full_verify_at_start
            recovery = recover_from(audit, snapshot=not full) if recover else None
            if recovery is not None and recovery.damage is not None:
                executor.recover(None, damage=recovery.damage)
            elif recovery is not None and recovery.base is not None:
                executor.memory.recover(recovery.records, base=recovery.base)
            else:
                executor.recover(list(iter_records(self.audit_path)) if recover else [])
            async with anyio.create_task_group() as tg:
                await tg.start(executor.run)
                try:
                    yield executor
                finally:
                    executor.close()
                    if not drain:
                        tg.cancel_scope.cancel()

    def _open(self, settings: Settings) -> AuditLog:
        self.audit_path.parent.mkdir(parents=True, exist_ok=True)
        group = settings.audit
        self._audit = AuditLog(
            self.audit_path,
            group.rotate_bytes,
            self.clock,
            fsync=self._fsync,
            state=StatePolicy(group.state_every_records, group.state_every_s),
        )
        return self._audit

    @property
    def executor(self) -> Executor:
        """The executor of the current (or the last) ``running()`` block."""
        if self._executor is None:
            raise RuntimeError("The harness has not run an executor yet; use `running()`.")
        return self._executor

    @property
    def audit(self) -> AuditLog:
        """The audit log of the current (or the last) ``running()`` block."""
        if self._audit is None:
            raise RuntimeError("The harness has not opened its audit log yet; use `running()`.")
        return self._audit

    def controller(self, proposers: Sequence[Proposer] = ()) -> Controller:
        """A poll loop over this world that submits to the running executor; drive it one
        ``cycle()`` at a time, or run its ``poll_forever`` in a task."""
        return Controller(
            self.cluster,
            self.metrics,
            self.executor,
            proposers,
            self.clock,
            self.settings,
            audit=self.audit,
        )

    async def submit(self, proposal: Proposal) -> Verdict:
        """Queue a proposal with the running executor and wait for its verdict."""
        return await self.executor.submit(proposal)

    # -- human control ----------------------------------------------------------------------

    @property
    def stores(self) -> ControlStores:
        """The approvals, overrides and snapshots of this world, as any process opens them."""
        return ControlStores.open(self.state_dir, self.settings, self.clock)

    @property
    def approvals(self) -> ApprovalStore:
        return self.stores.approvals

    @property
    def overrides(self) -> OverrideStore:
        return self.stores.overrides

    @property
    def snapshots(self) -> SnapshotStore:
        return self.stores.snapshots

    def flush_decisions(self) -> int:
        """Copy decisions stored by other processes into the open audit log now."""
        return self.stores.flush(self.audit)

    def cli_context(self, *, answer: str = "y", actor: str = "cli:tester") -> Context:
        """A human-control CLI context on this world, with the user answering ``answer``."""

        @asynccontextmanager
        async def connect(
            settings: Settings, clock: Clock
        ) -> AsyncIterator[tuple[Cluster, MetricsSource]]:
            yield self.cluster, self.metrics

        return Context(
            self.settings, clock=self.clock, connect=connect, ask=lambda _: answer, actor=actor
        )

    # -- the scripted cluster ---------------------------------------------------------------

    def workload(self, ref: WorkloadRef = REF) -> ScriptedWorkload:
        """A workload of the scripted cluster (its replicas, its writes, what it fails)."""
        if not isinstance(self.cluster, ScriptedCluster):
            raise TypeError("Only a scripted cluster has scripted workloads.")
        return self.cluster.get(ref)


ScriptedHarness = Harness[ManualClock, ScriptedCluster]
"""What ``Harness.scripted`` makes: a manual clock and the in-memory cluster."""


def up(
    target: int,
    seen: int,
    *,
    source: Source = Source.RULES,
    ref: WorkloadRef = REF,
    reason: str = "cpu 85% of requests",
    **fields: Any,
) -> Proposal:
    """A scale-up proposal from ``seen`` to ``target`` replicas."""
    return Proposal(ref, Action.SCALE_UP, target, reason, source, from_replicas=seen, **fields)


def down(
    target: int,
    seen: int,
    *,
    source: Source = Source.RULES,
    ref: WorkloadRef = REF,
    reason: str = "cpu 10% of requests",
    **fields: Any,
) -> Proposal:
    """A scale-down proposal from ``seen`` to ``target`` replicas."""
    return Proposal(ref, Action.SCALE_DOWN, target, reason, source, from_replicas=seen, **fields)


def hold(
    seen: int,
    *,
    source: Source = Source.RULES,
    ref: WorkloadRef = REF,
    reason: str = "cpu fine",
    **fields: Any,
) -> Proposal:
    """A proposal to stay at ``seen`` replicas."""
    return Proposal(ref, Action.HOLD, seen, reason, source, from_replicas=seen, **fields)
