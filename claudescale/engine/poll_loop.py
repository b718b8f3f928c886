"""The poll loop: read the cluster and the metrics, ask the proposers, queue their proposals.

Layer: orchestration. It depends on ports (Cluster, MetricsSource, Proposer, AuditSink, Clock)
and the executor, never on an adapter. It never changes the cluster itself: every non-hold
proposal goes to the executor, which re-reads, re-measures and judges it. It never waits on
the executor either (submissions run in the loop's own task group) and never waits longer
than ``loop.proposer_deadline_s`` for the model proposers; the rules policy answers for
whatever they leave. When Prometheus or the API server cannot be read it proposes nothing
("blind"): its full cycles back off, while the missing dependency is probed every interval, so
that it sees again within one interval of the dependency's return (``engine.sight``).
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

from claudescale.config import Settings
from claudescale.config.groups import prometheus_duration_s
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
    forgettable,
)
from claudescale.engine.proposers import ProposerChain, situation_of
from claudescale.engine.sight import Blind, Sight, Waker
from claudescale.ports import AuditSink, Clock, Cluster, MetricsSource, Proposer, ScaleExecutor

log = logging.getLogger(__name__)
RECENT_DECISIONS = 50


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
        self._executor = executor
        self._chain = ProposerChain(
            proposers, settings, audit=audit, refuse=partial(record_unqueued, audit), clock=clock
        )
        self._clock, self._settings, self._audit = clock, settings, audit
        self._rate_window_s = prometheus_duration_s(settings.prometheus.rate_window)
        self._memory: dict[WorkloadRef, WorkloadMemory] = {}
        self._in_flight: set[WorkloadRef] = set()
        self._recent: deque[Decision] = deque(maxlen=RECENT_DECISIONS)
        self._situations: tuple[WorkloadSituation, ...] = ()
        self._sight = Sight(cluster, metrics, settings, clock, audit)
        self._cycles = 0
        self._waker = Waker(clock)
        self._tg: TaskGroup | None = None
        self._spawned: list[Proposal] = []
        self._approvals_running = False
        self.on_hold: Callable[[Decision], None] = lambda decision: None
        """Told of each hold the loop decides itself (the service counts them)."""

    # -- the loop -------------------------------------------------------------------------

    async def poll_forever(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Cycle every ``loop.interval_s`` until cancelled; while blind, back off between
        full cycles and probe the missing dependency every interval in between."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                while True:
                    report = await self.cycle()
                    if report.health is Health.BLIND:
                        await self._sight.wait_while_blind(report.next_delay_s, self._waker.pause)
                    else:
                        await self._waker.pause(report.next_delay_s)
            finally:
                self._tg = None

    def reconcile_now(self) -> None:
        """Start the next cycle at once instead of at the end of the interval."""
        self._waker.wake()

    # -- one cycle ------------------------------------------------------------------------

    async def cycle(self) -> CycleReport:
        """Read, summarise, ask, queue. Called on its own (tests) it waits for the verdicts
        of what it queued; inside ``poll_forever`` it never does."""
        started = self._clock.now()
        self._cycles += 1
        try:
            states, readings = await self._sight.read(started, self._executor.observe)
        except Blind as blind:
            return self._sight.go_blind(started, blind)
        if self._sight.see(started):
            for memory in self._memory.values():
                memory.restart_trend()
        await self._process_approvals()
        now = self._clock.now()
        situations = [self._situation(state, readings[state.ref], now) for state in states]
        self._forget_gone({s.ref for s in states}, now)
        self._situations = tuple(situations)
        proposals = await self._chain.ask(situations)
        submitted, held, suppressed = self._dispatch(proposals, {s.ref: s for s in states})
        report = CycleReport(
            started_at=started,
            health=self._sight.health,
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

    def _forget_gone(self, present: set[WorkloadRef], now: float) -> None:
        """Drop the memory of workloads that went away, the loop's and the executor's, once
        nothing in it would hold back a change if they came back (``forgettable``)."""
        for gone in set(self._memory) - present - self._in_flight:
            state = self._memory[gone].state
            overrides = state.overrides if state is not None else ()
            limits, _ = self._settings.limits_or_base(gone, overrides)
            if forgettable(self._executor.history(gone), limits, now):
                del self._memory[gone]
                self._executor.forget(gone)

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
        self._recent.append(decision)  # the executor logged the verdict
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
        return self._sight.health

    @property
    def in_flight(self) -> frozenset[WorkloadRef]:
        return frozenset(self._in_flight)

    def status(self) -> LoopStatus:
        return LoopStatus(
            health=self._sight.health,
            cycles=self._cycles,
            seen_cycles=self._sight.seen_cycles,
            blind_since=self._sight.blind_since,
            blind_reason=self._sight.blind_reason,
            situations=self._situations,
            recent=tuple(self._recent),
            in_flight=self.in_flight,
        )
