"""The executor: the single mutator. Every change to a cluster, from any source, passes here.

Layer: engine. It depends only on ports (Cluster, MetricsSource, AuditSink, Clock), the pure
core and the human-control stores. One straight path per proposal (``_decide_and_apply``):
re-read the workload; compute its limits once (settings, annotations, overrides); check an
attached approval; re-measure CPU; ask ``core.decision.decide`` (guardrails, then risk, then
the mode gate); record the evaluation; then carry out the effects in order: close a refused
approval, or request one, or use it up, take a snapshot, and write (intent, CAS patch,
outcome, in ``scale_write``). It never retries a failed write: a stale "3→4" must not become
an unchecked "5→4". At most one action per workload is in flight (``busy``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from claudescale.config import Settings
from claudescale.control.stores import ControlStores
from claudescale.core.decision import Step, decide
from claudescale.core.guardrails import Situation
from claudescale.core.limits import Limits
from claudescale.core.messages import refusal_sentence, refused
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Proposal,
    Verdict,
    WorkloadRef,
    WorkloadState,
    block,
)
from claudescale.engine.audit_fields import evaluation_fields, proposal_fields, verdict_fields
from claudescale.engine.cooldown_memory import CooldownMemory
from claudescale.engine.human_control import HumanControl
from claudescale.engine.leadership import SOLE_WRITER, refuse_unless_leader
from claudescale.engine.scale_write import ScaleWriter
from claudescale.errors import AuditError, ClusterError, MetricsUnavailable, NotFound, StateError
from claudescale.ports import AuditSink, Clock, Cluster, Leadership, MetricsSource

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Ticket:
    proposal: Proposal
    done: anyio.Event = field(default_factory=anyio.Event)
    verdict: Verdict | None = None


class Executor:
    """Drains a bounded queue of proposals; at most one action in flight per workload.

    ``state_dir`` holds the approvals, overrides and snapshots (``config.state_dir_for``)."""

    def __init__(
        self,
        cluster: Cluster,
        metrics: MetricsSource,
        audit: AuditSink,
        clock: Clock,
        settings: Settings,
        *,
        state_dir: Path,
        queue_size: int = 256,
        leadership: Leadership | None = None,
    ) -> None:
        """``leadership`` says whether this replica may write now (None: always)."""
        self._cluster, self._metrics, self._audit = cluster, metrics, audit
        self._leadership = leadership = leadership or SOLE_WRITER
        self._clock, self._settings = clock, settings
        self.control = ControlStores.open(state_dir, settings, clock)
        self.memory = CooldownMemory(audit, clock, settings, stops=self.control.stops)
        self._human = HumanControl(settings, audit, clock, self.control)
        self._writer = ScaleWriter(
            cluster, audit, settings, self.memory, may_write=leadership.may_write
        )
        self._in_flight: set[WorkloadRef] = set()
        self._slots = anyio.CapacityLimiter(settings.cluster.max_concurrent_actions)
        send, receive = anyio.create_memory_object_stream[_Ticket](queue_size)
        self._send: MemoryObjectSendStream[_Ticket] = send
        self._receive: MemoryObjectReceiveStream[_Ticket] = receive
        self._listeners: list[Callable[[Proposal, Verdict], None]] = []

    # -- start-up -------------------------------------------------------------------------

    def recover(
        self, records: Iterable[Mapping[str, Any]] | None, *, damage: str | None = None
    ) -> None:
        """Rebuild cooldowns and external-change state from the audit log (None: nothing to
        trust; ``damage``: the log is damaged, so everything is held for a full cooldown)."""
        self.memory.recover(records, damage=damage)

    def seed(self, ref: WorkloadRef, last_action_at: float) -> None:
        self.memory.seed(ref, last_action_at)

    # -- the narrow interface of the poll loop (``ports.ScaleExecutor``) --------------------

    async def submit(self, proposal: Proposal) -> Verdict:
        """Queue a proposal and wait for its verdict."""
        ticket = _Ticket(_with_id(proposal))
        await self._send.send(ticket)
        await ticket.done.wait()
        assert ticket.verdict is not None
        return ticket.verdict

    def add_verdict_listener(self, listener: Callable[[Proposal, Verdict], None]) -> None:
        """Tell ``listener`` of each verdict once it is recorded (Kubernetes Events, the MCP
        server's resource updates); every listener hears every verdict, in the order they
        were added. A listener must not raise or block."""
        self._listeners.append(listener)

    def history(self, ref: WorkloadRef) -> History:
        return self.memory.history(ref)

    def observe(self, states: Iterable[WorkloadState], read_started_at: float) -> None:
        """Note replica changes nobody here made, from the loop's read that began at
        ``read_started_at``; workloads with an action in flight are skipped."""
        for state in states:
            if state.ref not in self._in_flight:
                self.memory.note_read(state, read_started_at, own=False)

    def forget(self, ref: WorkloadRef) -> None:
        """Drop the memory of a workload that went away (see ``CooldownMemory.forget``)."""
        if ref not in self._in_flight:
            self.memory.forget(ref)

    async def process_approvals(self, only: str | None = None) -> list[Verdict]:
        """Once per poll cycle: copy decisions made elsewhere (``claudescale approve`` in
        another process, the MCP tools) into the audit log, lift the ``external_controller``
        stops an operator asked to lift (``claudescale clear-external``), expire what is due,
        prune old snapshots, and carry out each approved change through the whole pipeline
        again. Nothing is submitted while the kill switch is on or in observe mode. Call it
        while ``run`` is running (it waits for the verdicts). A state file that cannot be read
        is recorded (``approvals_unavailable``) and nothing is done."""
        try:
            self.memory.carry_out_lifts()
            proposals = self._human.due_approvals(only)
        except StateError as exc:
            self._audit.append("approvals_unavailable", {"message": str(exc)}, durable=True)
            return []
        return [await self.submit(p) for p in proposals]

    # -- the queue ------------------------------------------------------------------------

    def close(self) -> None:
        """No more proposals; ``run`` returns once the queue is drained."""
        self._send.close()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The executor task. Returns when the queue is closed and every action finished."""
        async with anyio.create_task_group() as tg:
            task_status.started()
            async with self._receive:
                async for ticket in self._receive:
                    proposal = ticket.proposal
                    if proposal.ref in self._in_flight:
                        self._audit.append("proposal", proposal_fields(proposal))
                        why = "an action for this workload is already in flight."
                        busy = refused(Code.BUSY, proposal.ref, None, proposal.target_replicas, why)
                        self._finish(ticket, busy)
                        continue
                    self._in_flight.add(proposal.ref)
                    tg.start_soon(self._handle, ticket)

    async def _handle(self, ticket: _Ticket) -> None:
        proposal = ticket.proposal
        ref = proposal.ref
        try:
            self._audit.append("proposal", proposal_fields(proposal))
            try:
                async with self._slots:
                    verdict = await self._decide_and_apply(proposal)
            except StateError as exc:
                # Fail closed: every state error comes before the write (snapshot, approval).
                verdict = _failed(proposal, f"{exc} Nothing was changed.")
            except AuditError:
                raise  # nothing may change without a record: stop the service loudly
            except Exception as exc:
                # A bug or a surprise from an adapter must not kill the executor and leave
                # this proposal without a verdict; a write in progress records its own outcome.
                log.exception("Unexpected error while handling a proposal for %s.", ref)
                verdict = _failed(proposal, f"unexpected {type(exc).__name__} ({exc}).")
            self._human.record_rollback(proposal, verdict)
        finally:
            self._in_flight.discard(ref)
        self._finish(ticket, verdict)

    # -- one proposal: the straight path ----------------------------------------------------

    async def _decide_and_apply(self, proposal: Proposal) -> Verdict:
        follower = refuse_unless_leader(self._leadership, proposal)
        if follower is not None:
            return follower
        state = await self._read(proposal)
        if isinstance(state, Verdict):
            return state
        limits = self._limits(state)
        if isinstance(limits, Verdict):
            return limits
        attached = self._human.check_attached(state, proposal)
        if attached is not None:
            return attached
        limits = self._human.with_overrides(state.ref, limits, proposal)
        reading = await self._read_cpu(state) if proposal.action is not Action.HOLD else None
        situation = Situation(state, reading, self.history(state.ref), limits, self._clock.now())
        decision = decide(
            situation,
            proposal,
            mode=self._settings.mode.value,
            kill_switch=self._human.kill_switch_on(),
            risk_settings=self._settings.risk,
            approved=bool(proposal.approval_id),
        )
        fields = evaluation_fields(situation, proposal, decision.guardrails)
        self._audit.append("evaluation", fields)
        if decision.step is Step.STOP:
            if decision.risk is None:  # the guardrails refused: an approval is closed
                self._human.close_approval(proposal, decision.verdict)
            return decision.verdict
        assert decision.risk is not None
        if decision.step is Step.ASK_HUMAN:
            return self._human.request_approval(state, proposal, decision.risk, decision.why)
        not_usable = self._human.use_approval(state, proposal)
        if not_usable is not None:
            return not_usable
        snapshot = self._human.take_snapshot(state, proposal)
        return await self._writer.write(state, proposal, snapshot.id)

    async def _read(self, proposal: Proposal) -> WorkloadState | Verdict:
        ref = proposal.ref
        read_started_at = self._clock.now()
        try:
            with anyio.fail_after(self._settings.cluster.read_timeout_s):
                state = await self._cluster.read_workload(ref)
        except NotFound:
            why = "the Deployment does not exist."
            return refused(Code.TARGET_GONE, ref, None, None, why)
        except (ClusterError, TimeoutError) as exc:
            return refused(Code.WRITE_FAILED, ref, None, None, f"could not read it ({exc}).")
        self.memory.note_read(state, read_started_at, own=True)
        return state

    def _limits(self, state: WorkloadState) -> Limits | Verdict:
        """The settings' limits tightened by the workload's annotations (overrides follow)."""
        limits, error = self._settings.limits_or_base(state.ref, state.overrides)
        if error is None:
            return limits
        why = f"its claudescale.io annotations are invalid: {error}"
        return refused(Code.INVALID_TARGET, state.ref, None, None, why)

    async def _read_cpu(self, state: WorkloadState) -> CpuReading | None:
        try:
            with anyio.fail_after(self._settings.prometheus.query_timeout_s):
                readings = await self._metrics.cpu([state])
        except (MetricsUnavailable, TimeoutError):
            return None
        return readings.get(state.ref)

    def _finish(self, ticket: _Ticket, verdict: Verdict) -> None:
        """Record and log the verdict: every path to a change ends here, so this is the one
        log line per verdict (the loop, approvals, rollbacks, the CLI, MCP)."""
        proposal = ticket.proposal
        self._audit.append("verdict", verdict_fields(proposal, verdict))
        seen = proposal.from_replicas if verdict.from_replicas is None else verdict.from_replicas
        extra = {
            "event": "verdict",
            "workload": str(proposal.ref),
            "from": seen,
            "to": verdict.to_replicas,
            "outcome": verdict.outcome.value,
            "code": verdict.code.value,
            "source": proposal.source.value,
        }
        log.info(verdict.message, extra=extra)
        ticket.verdict = verdict
        ticket.done.set()
        for listener in self._listeners:
            listener(proposal, verdict)


def _failed(proposal: Proposal, why: str) -> Verdict:
    """``write_failed`` before any write: the sentence names only the target."""
    ref, target = proposal.ref, proposal.target_replicas
    sentence = refusal_sentence(ref, None, target, why)
    return block(Code.WRITE_FAILED, sentence, proposal.from_replicas, target)


def _with_id(proposal: Proposal) -> Proposal:
    """Every proposal gets an id, so its records can be joined in the audit log."""
    if proposal.proposal_id:
        return proposal
    return replace(proposal, proposal_id=uuid.uuid4().hex[:16])
