"""The poll loop: read the cluster and the metrics, ask the proposers, queue their proposals.

Layer: orchestration. It depends on ports (Cluster, MetricsSource, Proposer, AuditSink, Clock)
and the executor, never on an adapter. It never changes the cluster itself: every non-hold
proposal goes to the executor, which re-reads, re-measures and judges it. It never waits on
the executor either (submissions run in the loop's own task group) and never waits longer
than ``loop.proposer_deadline_s`` for the model proposers; the rules policy answers for
whatever they leave. When Prometheus or the API server cannot be read it proposes nothing
("blind"), backs off, and says so once in the audit log, and once again when it sees again.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

import anyio
from anyio.abc import TaskGroup, TaskStatus

from claudescale.config import Settings, prometheus_duration_s
from claudescale.core.situation import WorkloadSituation, cooldowns_remaining_s
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    Outcome,
    Proposal,
    Verdict,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.audit_fields import record_unqueued
from claudescale.engine.loop_memory import (
    CycleReport,
    Decision,
    Health,
    LoopStatus,
    WorkloadMemory,
    cycle_record,
)
from claudescale.engine.proposers import ProposerChain, situation_of
from claudescale.errors import ClusterError, MetricsUnavailable
from claudescale.ports import AuditSink, Clock, Cluster, MetricsSource, Proposer, ScaleExecutor

log = logging.getLogger(__name__)
RECENT_DECISIONS = 50


class _Blind(Exception):
    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source, self.message = source, message


class Controller:
    """One cycle at a time (``cycle``), or forever (``poll_forever``)."""

    def __init__(
        self,
        cluster: Cluster,
        metrics: MetricsSource,
        executor: ScaleExecutor,
        proposers: Sequence[Proposer],
        clock: Clock,
        settings: Settings,
        *,
        audit: AuditSink,
    ) -> None:
        """``proposers`` are the model proposers, asked in order; the rules policy always
        answers last for the workloads they leave."""
        self._cluster, self._metrics, self._executor = cluster, metrics, executor
        self._chain = ProposerChain(
            proposers, settings, audit=audit, refuse=partial(record_unqueued, audit)
        )
        self._clock, self._settings, self._audit = clock, settings, audit
        self._rate_window_s = prometheus_duration_s(settings.prometheus.rate_window)
        self._memory: dict[WorkloadRef, WorkloadMemory] = {}
        self._in_flight: set[WorkloadRef] = set()
        self._recent: deque[Decision] = deque(maxlen=RECENT_DECISIONS)
        self._situations: tuple[WorkloadSituation, ...] = ()
        self._health = Health.STARTING
        self._blind_since: float | None = None
        self._blind_reason: str | None = None
        self._blind_cycles = self._cycles = self._seen_cycles = 0
        self._wake = anyio.Event()
        self._tg: TaskGroup | None = None
        self._spawned: list[Proposal] = []
        self._approvals_running = False
        self.on_hold: Callable[[Decision], None] = lambda decision: None
        """Told of each hold the loop decides itself (the service counts them)."""

    # -- the loop -------------------------------------------------------------------------

    async def poll_forever(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Cycle every ``loop.interval_s`` (backing off while blind) until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                while True:
                    report = await self.cycle()
                    await self._pause(report.next_delay_s)
            finally:
                self._tg = None

    def reconcile_now(self) -> None:
        """Start the next cycle at once instead of at the end of the interval."""
        self._wake.set()

    async def _pause(self, delay_s: float) -> None:
        async with anyio.create_task_group() as tg:

            async def sleep_then_stop() -> None:
                await self._clock.sleep(delay_s)
                tg.cancel_scope.cancel()

            tg.start_soon(sleep_then_stop)
            await self._wake.wait()
            tg.cancel_scope.cancel()
        self._wake = anyio.Event()

    # -- one cycle ------------------------------------------------------------------------

    async def cycle(self) -> CycleReport:
        """Read, summarise, ask, queue. Called on its own (tests) it waits for the verdicts
        of what it queued; inside ``poll_forever`` it never does."""
        started = self._clock.now()
        self._cycles += 1
        try:
            states = await self._read_cluster(started)
            readings = await self._read_metrics(states)
        except _Blind as blind:
            return self._go_blind(started, blind)
        self._see(started)
        await self._process_approvals()
        now = self._clock.now()
        situations = [self._situation(state, readings[state.ref], now) for state in states]
        for gone in set(self._memory) - {s.ref for s in states} - self._in_flight:
            del self._memory[gone]
        self._situations = tuple(situations)
        proposals = await self._chain.ask(situations)
        submitted, held, suppressed = self._dispatch(proposals, {s.ref: s for s in states})
        report = CycleReport(
            started_at=started,
            health=self._health,
            next_delay_s=max(0.0, self._settings.loop.interval_s - (self._clock.now() - started)),
            workloads=len(states),
            submitted=tuple(submitted),
            held=held,
            suppressed=suppressed,
        )
        if self._settings.loop.audit_cycles:
            self._audit.append("cycle", cycle_record(states, readings, report))
        if self._tg is None:
            await self._wait_for_spawned()
        return report

    async def _read_cluster(self, started: float) -> list[WorkloadState]:
        timeout_s = self._settings.loop.list_timeout_s
        try:
            with anyio.fail_after(timeout_s):
                states = [s for s in await self._cluster.list_workloads() if s.managed]
        except ClusterError as exc:
            raise _Blind("cluster", f"cannot list the managed workloads ({exc})") from exc
        except TimeoutError as exc:
            why = f"could not list the managed workloads within {timeout_s:g} s"
            raise _Blind("cluster", why) from exc
        self._executor.observe(states, started)
        return states

    async def _read_metrics(self, states: list[WorkloadState]) -> dict[WorkloadRef, CpuReading]:
        timeout_s = self._settings.prometheus.query_timeout_s
        try:
            with anyio.fail_after(timeout_s):
                readings = await self._metrics.cpu(states)
        except MetricsUnavailable as exc:
            raise _Blind("metrics", f"cannot read CPU ({exc})") from exc
        except TimeoutError as exc:
            why = f"could not read CPU within {timeout_s:g} s"
            raise _Blind("metrics", why) from exc
        return {s.ref: readings.get(s.ref, CpuReading(None)) for s in states}

    def _go_blind(self, started: float, blind: _Blind) -> CycleReport:
        self._blind_cycles += 1
        if self._health is not Health.BLIND:
            self._blind_since = started
            message = (
                f"Stopped proposing changes: the loop {blind.message}. Nothing is changed "
                "while it cannot see."
            )
            self._audit.append("blind", {"source": blind.source, "message": message})
            log.warning(message, extra={"event": "blind", "source": blind.source})
        self._health, self._blind_reason = Health.BLIND, blind.message
        loop = self._settings.loop
        # Capped exponent: an outage of days must not overflow the float.
        doublings = min(self._blind_cycles - 1, 30)
        delay_s = min(loop.blind_backoff_max_s, loop.interval_s * 2.0**doublings)
        return CycleReport(started, Health.BLIND, delay_s, problem=blind.message)

    def _see(self, started: float) -> None:
        if self._health is Health.BLIND and self._blind_since is not None:
            blind_s = started - self._blind_since
            message = f"Sight restored after {blind_s:.1f} s: the loop reads the cluster and CPU."
            fields = {"blind_for_s": round(blind_s, 3), "message": message}
            self._audit.append("sight_restored", fields)
            log.info(message, extra={"event": "sight_restored"})
        self._health, self._blind_since, self._blind_reason = Health.SEEING, None, None
        self._blind_cycles = 0
        self._seen_cycles += 1

    def _situation(
        self, state: WorkloadState, reading: CpuReading, now: float
    ) -> WorkloadSituation:
        memory = self._memory.setdefault(state.ref, WorkloadMemory())
        trend = memory.note(
            state,
            reading,
            now,
            rate_window_s=self._rate_window_s,
            trend_window_s=self._settings.loop.trend_window_s,
        )
        return situation_of(
            state,
            reading,
            trend_percent_per_min=trend,
            history=self._executor.history(state.ref),
            settings=self._settings,
            now=now,
            last_decision=memory.last.as_last(now) if memory.last is not None else None,
        )

    # -- handing proposals to the executor -------------------------------------------------

    def _dispatch(
        self, proposals: list[Proposal], by_ref: Mapping[WorkloadRef, WorkloadState]
    ) -> tuple[list[Proposal], int, int]:
        now = self._clock.now()
        submitted: list[Proposal] = []
        held = suppressed = 0
        for proposal in proposals:
            memory = self._memory.setdefault(proposal.ref, WorkloadMemory())
            replicas = by_ref[proposal.ref].replicas
            if proposal.action is Action.HOLD:
                held += 1
                memory.last = Decision(
                    ref=proposal.ref,
                    at=now,
                    outcome=Outcome.HELD,
                    code=Code.HOLD,
                    message=proposal.reason,
                    source=proposal.source.value,
                    from_replicas=replicas,
                    to_replicas=replicas,
                )
                self.on_hold(memory.last)
                continue
            allowed = memory.may_propose(proposal.action, replicas, now)
            if proposal.ref in self._in_flight or not allowed:
                suppressed += 1
                continue
            if not proposal.proposal_id:
                proposal = replace(proposal, proposal_id=uuid.uuid4().hex[:16])
            submitted.append(proposal)
            self._in_flight.add(proposal.ref)
            if self._tg is not None:
                self._tg.start_soon(self._submit, proposal)
            else:
                self._spawned.append(proposal)
        return submitted, held, suppressed

    async def _process_approvals(self) -> None:
        """Approved changes go through the executor once per seeing cycle; it waits for
        their verdicts, so inside ``poll_forever`` it runs beside the loop, one at a time."""
        if self._tg is None:
            await self._executor.process_approvals()
        elif not self._approvals_running:
            self._approvals_running = True
            self._tg.start_soon(self._run_approvals)

    async def _run_approvals(self) -> None:
        try:
            await self._executor.process_approvals()
        finally:
            self._approvals_running = False

    async def _wait_for_spawned(self) -> None:
        spawned, self._spawned = self._spawned, []
        async with anyio.create_task_group() as tg:
            for proposal in spawned:
                tg.start_soon(self._submit, proposal)

    async def _submit(self, proposal: Proposal) -> None:
        try:
            verdict = await self._executor.submit(proposal)
        finally:
            self._in_flight.discard(proposal.ref)
        self._record(proposal, verdict)

    def _record(self, proposal: Proposal, verdict: Verdict) -> None:
        now = self._clock.now()
        seen = verdict.from_replicas
        decision = Decision(
            ref=proposal.ref,
            at=now,
            outcome=verdict.outcome,
            code=verdict.code,
            message=verdict.message,
            source=proposal.source.value,
            from_replicas=proposal.from_replicas if seen is None else seen,
            to_replicas=verdict.to_replicas,
        )
        self._recent.append(decision)
        extra = {"event": "verdict", "workload": str(proposal.ref), "code": verdict.code.value}
        log.info(verdict.message, extra=extra)
        memory = self._memory.setdefault(proposal.ref, WorkloadMemory())
        memory.after_verdict(decision, proposal.action, self._retry_after_s(memory, verdict, now))

    def _retry_after_s(self, memory: WorkloadMemory, verdict: Verdict, now: float) -> float:
        """A cooldown's end is known; other refusals wait ``loop.refused_retry_s``."""
        if verdict.code in (Code.COOLDOWN_UP, Code.COOLDOWN_DOWN) and memory.state is not None:
            ref = memory.state.ref
            limits, _ = self._settings.limits_or_base(ref, memory.state.overrides)
            up_s, down_s = cooldowns_remaining_s(self._executor.history(ref), limits, now)
            return up_s if verdict.code is Code.COOLDOWN_UP else down_s
        return self._settings.loop.refused_retry_s

    # -- views ----------------------------------------------------------------------------

    @property
    def health(self) -> Health:
        return self._health

    @property
    def in_flight(self) -> frozenset[WorkloadRef]:
        return frozenset(self._in_flight)

    def status(self) -> LoopStatus:
        return LoopStatus(
            health=self._health,
            cycles=self._cycles,
            seen_cycles=self._seen_cycles,
            blind_since=self._blind_since,
            blind_reason=self._blind_reason,
            situations=self._situations,
            recent=tuple(self._recent),
            in_flight=self.in_flight,
        )
