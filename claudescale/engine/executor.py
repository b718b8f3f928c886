"""The executor: the single mutator. Every change to a cluster, from any source, passes here.

Layer: orchestration. It depends only on ports (Cluster, MetricsSource, AuditSink, Clock) and
the pure core. Per proposal it re-reads the workload, evaluates the guardrails against its own
fresh numbers, writes a durable intent record, patches replicas with the read resourceVersion
as precondition, and records the outcome. It never retries a failed write: a stale "3→4" must
not become an unchecked "5→4".
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from claudescale.config import Settings, state_dir_for
from claudescale.core import history as hist
from claudescale.core.guardrails import Situation, evaluate
from claudescale.core.limits import Limits
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Outcome,
    Proposal,
    Verdict,
    WorkloadRef,
    WorkloadState,
    block,
)
from claudescale.engine.audit_fields import evaluation_fields, proposal_fields
from claudescale.engine.human_control import Gatekeeper
from claudescale.errors import (
    AuditError,
    ClusterError,
    Conflict,
    MetricsUnavailable,
    NotFound,
    StateError,
)
from claudescale.ports import AuditSink, Clock, Cluster, MetricsSource

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Ticket:
    proposal: Proposal
    done: anyio.Event = field(default_factory=anyio.Event)
    verdict: Verdict | None = None


class Executor:
    """Drains a bounded queue of proposals; at most one action in flight per workload."""

    def __init__(
        self,
        cluster: Cluster,
        metrics: MetricsSource,
        audit: AuditSink,
        clock: Clock,
        settings: Settings,
        *,
        queue_size: int = 256,
        gatekeeper: Gatekeeper | None = None,
    ) -> None:
        self._cluster = cluster
        self._metrics = metrics
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._histories: dict[WorkloadRef, History] = {}
        self._default_history = History()
        self._in_flight: set[WorkloadRef] = set()
        self._known_at: dict[WorkloadRef, float] = {}
        """Per workload, when our newest read began or our newest write finished (monotonic)."""
        send, receive = anyio.create_memory_object_stream[_Ticket](queue_size)
        self._send: MemoryObjectSendStream[_Ticket] = send
        self._receive: MemoryObjectReceiveStream[_Ticket] = receive
        if gatekeeper is None:
            # The stores live next to the log this executor really writes (replay and tests
            # hand it one outside the settings' audit.path).
            log_path = getattr(audit, "path", None)
            state_dir = state_dir_for(settings, log_path if isinstance(log_path, Path) else None)
            gatekeeper = Gatekeeper(settings, audit, clock, state_dir)
        self.gatekeeper = gatekeeper

    # -- start-up -------------------------------------------------------------------------

    def recover(self, records: Iterable[Mapping[str, Any]] | None) -> None:
        """Rebuild cooldown and external-change state from the audit log.

        ``None`` means the log could not be trusted or read: assume every workload acted at
        start-up, so scale-downs wait a full cooldown and scale-ups do not.
        """
        now = self._clock.now()
        if records is None:
            self._default_history = hist.assumed_action_at(now)
            self._audit.append(
                "restart",
                {
                    "recovered": False,
                    "message": "Audit history unavailable; assuming an "
                    "action at start-up for every workload.",
                },
                durable=True,
            )
            return
        recovered = hist.recover(records, epoch=self._clock.epoch, now=now)
        self._histories = {WorkloadRef.parse(k): h for k, h in recovered.histories.items()}
        for intent in recovered.interrupted_intents:
            self._audit.append(
                "outcome",
                {
                    "workload": intent["workload"],
                    "intent_id": intent["intent_id"],
                    "code": "unknown",
                    "from": intent["from"],
                    "to": intent["to"],
                    "message": "The process stopped between intent and result; the write may "
                    "or may not have happened, so it counts as executed for cooldowns.",
                },
                durable=True,
            )
        self._audit.append(
            "restart",
            {
                "recovered": True,
                "workloads": len(self._histories),
                "interrupted_intents": len(recovered.interrupted_intents),
            },
            durable=True,
        )

    def seed(self, ref: WorkloadRef, last_action_at: float) -> None:
        """Declare that an action happened at ``last_action_at`` (monotonic): both cooldowns
        date from then. Used by replay's ``start.last_action_ago_s`` and by imports."""
        seeded = History(last_scale_up_at=last_action_at, last_change_at=last_action_at)
        self._histories[ref] = seeded
        self._audit.append(
            "seeded",
            {
                "workload": str(ref),
                "last_scale_up_at": last_action_at,
                "last_change_at": last_action_at,
            },
            durable=True,
        )

    # -- the queue ------------------------------------------------------------------------

    def refuse(self, proposal: Proposal, code: Code, message: str) -> Verdict:
        """Record a proposal that never reached the queue (a reply that did not parse)."""
        proposal = _with_id(proposal)
        self._audit.append("proposal", proposal_fields(proposal))
        verdict = block(code, message, proposal.from_replicas, None)
        ticket = _Ticket(proposal)
        self._finish(ticket, verdict)
        return verdict

    async def submit(self, proposal: Proposal) -> Verdict:
        """Queue a proposal and wait for its verdict."""
        ticket = _Ticket(_with_id(proposal))
        await self._send.send(ticket)
        await ticket.done.wait()
        assert ticket.verdict is not None
        return ticket.verdict

    def close(self) -> None:
        """No more proposals; ``run`` returns once the queue is drained."""
        self._send.close()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The executor task. Returns when the queue is closed and every action finished."""
        async with anyio.create_task_group() as tg:
            task_status.started()
            async with self._receive:
                async for ticket in self._receive:
                    ref = ticket.proposal.ref
                    if ref in self._in_flight:
                        self._finish(ticket, self._busy(ticket.proposal))
                        continue
                    self._in_flight.add(ref)
                    tg.start_soon(self._handle, ticket)

    # -- views for the loop, the CLI and the MCP tools -------------------------------------

    def history(self, ref: WorkloadRef) -> History:
        return self._histories.get(ref, self._default_history)

    def clear_external_controller(self, ref: WorkloadRef, actor: str) -> None:
        self._histories[ref] = hist.cleared(self.history(ref))
        self._audit.append(
            "external_controller_cleared", {"workload": str(ref), "actor": actor}, durable=True
        )

    def observe(self, states: Iterable[WorkloadState], read_started_at: float) -> None:
        """Record replica changes nobody here made, from a read that began at
        ``read_started_at`` (monotonic). A read that began before our own last read or write
        of that workload is older than what we know, and is ignored."""
        for state in states:
            ref = state.ref
            if ref in self._in_flight or read_started_at < self._known_at.get(ref, -math.inf):
                continue
            self._note_replicas(state)

    # -- one proposal ---------------------------------------------------------------------

    async def _handle(self, ticket: _Ticket) -> None:
        proposal = ticket.proposal
        try:
            self._audit.append("proposal", proposal_fields(proposal))
            try:
                verdict = await self._decide_and_apply(proposal)
            except StateError as exc:
                # Fail closed: every state error comes before the write (snapshot, approval).
                verdict = block(
                    Code.WRITE_FAILED,
                    f"Refused scaling {proposal.ref} to {proposal.target_replicas}: {exc} "
                    "Nothing was changed.",
                    proposal.from_replicas,
                    proposal.target_replicas,
                )
            except AuditError:
                raise  # nothing may change without a record: stop the service loudly
            except Exception as exc:
                # A bug or a surprise from an adapter must not kill the executor and leave
                # this proposal without a verdict; a write in progress records its own outcome.
                log.exception("Unexpected error while handling a proposal for %s.", proposal.ref)
                verdict = block(
                    Code.WRITE_FAILED,
                    f"Refused scaling {proposal.ref} to {proposal.target_replicas}: unexpected "
                    f"{type(exc).__name__} ({exc}).",
                    proposal.from_replicas,
                    proposal.target_replicas,
                )
            self.gatekeeper.after(proposal, verdict)
        finally:
            self._in_flight.discard(proposal.ref)
        self._finish(ticket, verdict)

    async def _decide_and_apply(self, proposal: Proposal) -> Verdict:
        ref = proposal.ref
        read_started_at = self._clock.now()
        try:
            with anyio.fail_after(self._settings.cluster.read_timeout_s):
                state = await self._cluster.read_workload(ref)
        except NotFound:
            return block(Code.TARGET_GONE, f"Refused scaling {ref}: the Deployment does not exist.")
        except (ClusterError, TimeoutError) as exc:
            return block(Code.WRITE_FAILED, f"Refused scaling {ref}: could not read it ({exc}).")
        self._known_at[ref] = max(self._known_at.get(ref, -math.inf), read_started_at)
        self._note_replicas(state)
        try:
            limits = self._settings.limits_for(ref, state.overrides)
        except ValueError as exc:
            return block(
                Code.INVALID_TARGET,
                f"Refused scaling {ref}: its claudescale.io annotations are invalid: {exc}",
            )
        # -- the gate: approvals, overrides, risk and modes (claudescale.engine.human_control) --
        refused = self.gatekeeper.check_attached(state, proposal)
        if refused is not None:
            return refused
        limits = self.gatekeeper.limits(ref, limits, proposal)
        reading = await self._read_cpu(state) if proposal.action is not Action.HOLD else None
        now = self._clock.now()
        situation = Situation(state, reading, self.history(ref), limits, now)
        verdict = evaluate(situation, proposal)
        self._audit.append("evaluation", evaluation_fields(situation, proposal, verdict))
        if not verdict.allowed:
            self.gatekeeper.settle(proposal, verdict)
            return verdict
        gated = self.gatekeeper.decide(state, proposal, limits, situation.history, now)
        if gated is not None:
            return gated
        return await self._write(state, proposal, limits)

    async def process_approvals(self, only: str | None = None) -> list[Verdict]:
        """Once per poll cycle: copy decisions made elsewhere (``claudescale approve`` in
        another process, the MCP tools) into the audit log, expire what is due, prune old
        snapshots, and carry out each approved change through the whole gate again. Nothing
        is submitted while the kill switch is on or in observe mode; a no-op when nothing is
        approved. Call it while ``run`` is running (it waits for the verdicts). A state file
        that cannot be read is recorded (``approvals_unavailable``) and nothing is done."""
        try:
            proposals = self.gatekeeper.housekeeping(only)
        except StateError as exc:
            self._audit.append("approvals_unavailable", {"message": str(exc)}, durable=True)
            return []
        return [await self.submit(p) for p in proposals]

    async def _write(self, state: WorkloadState, proposal: Proposal, limits: Limits) -> Verdict:
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        snapshot = self.gatekeeper.snapshot(state, proposal)
        intent_id = uuid.uuid4().hex
        intent = {
            "workload": str(ref),
            "intent_id": intent_id,
            "proposal_id": proposal.proposal_id,
            "snapshot_id": snapshot.id,
            "approval_id": proposal.approval_id,
            "uid": state.uid,
            "from": before,
            "to": after,
            "resource_version": state.resource_version,
            "source": proposal.source.value,
            "actor": proposal.actor or proposal.source.value,
        }
        self._audit.append("intent", intent, durable=True)
        # Once the intent is on disk, finish the write and record its outcome even if we are
        # being cancelled, within the API deadline: an intent never stays without outcome.
        with anyio.CancelScope(shield=True):
            code, message, maybe_landed = await self._patch(state, after)
            now = self._clock.now()
            if code is Code.OK:
                self._histories[ref] = hist.after_action(self.history(ref), now, before, after)
            elif maybe_landed:
                self._histories[ref] = hist.after_unknown_write(
                    self.history(ref), now, before, after
                )
            self._known_at[ref] = now
            self._audit.append(
                "outcome",
                {
                    "workload": str(ref),
                    "intent_id": intent_id,
                    "proposal_id": proposal.proposal_id,
                    "code": "unknown" if maybe_landed else code.value,
                    "from": before,
                    "to": after,
                    "message": message,
                },
                durable=True,
            )
        if code is Code.OK:
            return Verdict(
                Outcome.EXECUTED,
                Code.OK,
                f"Scaled {ref} {before}→{after}: {proposal.reason.strip()}",
                before,
                after,
            )
        return block(code, f"Refused scaling {ref} {before}→{after}: {message}", before, after)

    async def _patch(self, state: WorkloadState, replicas: int) -> tuple[Code, str, bool]:
        """Write, and say how it went: (code, sentence, whether it may have landed unseen)."""
        ref = state.ref
        try:
            with anyio.fail_after(self._settings.cluster.request_timeout_s):
                await self._cluster.scale(ref, replicas, state.resource_version)
        except Conflict:
            why = "someone changed the Deployment since we read it (409); not retried."
            return Code.CONFLICT, why, False
        except NotFound:
            return Code.TARGET_GONE, "the Deployment was deleted before the write.", False
        except ClusterError as exc:
            if not exc.retryable:
                return Code.WRITE_FAILED, f"the API server refused the write ({exc}).", False
            lost: Exception = exc
        except (TimeoutError, OSError) as exc:
            lost = exc
        except Exception as exc:
            log.exception("Unexpected error from the cluster adapter while scaling %s.", ref)
            lost = exc
        else:
            return Code.OK, "written.", False
        # The answer was lost, not necessarily the write: look before saying it failed.
        landed = await self._write_landed(state, replicas)
        if landed:
            return Code.OK, "written (confirmed by a re-read after a lost answer).", False
        what = f"{type(lost).__name__}: {lost}"
        if landed is None:
            why = (
                f"the write's answer was lost ({what}) and the workload could not be re-read; "
                "it counts as executed for cooldowns in case it landed."
            )
            return Code.WRITE_FAILED, why, True
        return Code.WRITE_FAILED, f"the write failed ({what}); a re-read shows it did not.", False

    async def _write_landed(self, state: WorkloadState, replicas: int) -> bool | None:
        """Whether a write whose answer was lost is visible; None when we cannot tell."""
        try:
            with anyio.fail_after(self._settings.cluster.read_timeout_s):
                fresh = await self._cluster.read_workload(state.ref)
        except (ClusterError, TimeoutError):
            return None
        return fresh.replicas == replicas and fresh.resource_version != state.resource_version

    async def _read_cpu(self, state: WorkloadState) -> CpuReading | None:
        try:
            with anyio.fail_after(self._settings.prometheus.query_timeout_s):
                readings = await self._metrics.cpu([state])
        except (MetricsUnavailable, TimeoutError):
            return None
        return readings.get(state.ref)

    # -- external changes -----------------------------------------------------------------

    def _note_replicas(self, state: WorkloadState) -> None:
        ref = state.ref
        current = self.history(ref)
        if current.last_known_replicas is None:
            self._histories[ref] = replace(current, last_known_replicas=state.replicas)
            return
        if not hist.is_external_change(current, state.replicas):
            return
        try:
            limits = self._settings.limits_for(ref, state.overrides)
        except ValueError:
            limits = self._settings.guardrails
        change = hist.after_external_change(current, self._clock.now(), state.replicas, limits)
        self._histories[ref] = change.history
        self._audit.append(
            "external_change",
            {
                "workload": str(ref),
                "from": current.last_known_replicas,
                "replicas": state.replicas,
                "reversion": change.reversion,
            },
            durable=True,
        )
        if change.newly_flagged:
            self._audit.append(
                "external_controller_set",
                {
                    "workload": str(ref),
                    "message": f"Stopped acting on {ref}: someone else "
                    f"reverted our changes {limits.reversion_limit} times within "
                    f"{limits.reversion_window_s:g} s.",
                },
                durable=True,
            )

    # -- verdicts -------------------------------------------------------------------------

    def _busy(self, proposal: Proposal) -> Verdict:
        self._audit.append("proposal", proposal_fields(proposal))
        return block(
            Code.BUSY,
            f"Refused scaling {proposal.ref} to {proposal.target_replicas}: "
            "an action for this workload is already in flight.",
            None,
            proposal.target_replicas,
        )

    def _finish(self, ticket: _Ticket, verdict: Verdict) -> None:
        self._audit.append(
            "verdict",
            {
                "workload": str(ticket.proposal.ref),
                "proposal_id": ticket.proposal.proposal_id,
                "source": ticket.proposal.source.value,
                "actor": ticket.proposal.actor or ticket.proposal.source.value,
                "outcome": verdict.outcome.value,
                "code": verdict.code.value,
                "from": verdict.from_replicas,
                "to": verdict.to_replicas,
                "message": verdict.message,
            },
        )
        ticket.verdict = verdict
        ticket.done.set()


def _with_id(proposal: Proposal) -> Proposal:
    """Every proposal gets an id, so its records can be joined in the audit log."""
    if proposal.proposal_id:
        return proposal
    return replace(proposal, proposal_id=uuid.uuid4().hex[:16])
