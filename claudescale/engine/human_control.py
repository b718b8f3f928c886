"""The effects of human control that the executor carries out: approvals, overrides,
snapshots and the kill switch, each with its audit record.

Layer: engine (called only by the executor, at fixed points of its pipeline). It decides
nothing: whether a change needs a human, runs, or is only recorded is
``claudescale.core.decision.decide``'s answer; this module requests, checks and uses up
approvals, applies overrides, takes snapshots and reads the kill switch, against the stores of
``claudescale.control.stores``. It never talks to the cluster.

Decisions made in another process (``claudescale approve`` while the service holds the audit
log) are stored as events on the approval or override; ``flush`` copies them into the audit
log, always before the change they allow is carried out.
"""

from __future__ import annotations

import orjson

from claudescale.config import Settings
from claudescale.control.change_requests import (
    approved_proposal,
    change_hash,
    decide_commands,
    request_change,
)
from claudescale.control.snapshots import Snapshot
from claudescale.control.stores import ControlStores
from claudescale.core import modes
from claudescale.core.limits import Limits
from claudescale.core.messages import refused
from claudescale.core.risk import Risk
from claudescale.core.transient import is_transient, kept_sentence
from claudescale.core.values import (
    Action,
    Code,
    Outcome,
    Proposal,
    Source,
    Verdict,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.overrides_in_force import overridden_limits
from claudescale.ports import AuditSink, Clock


class HumanControl:
    """The stores of one state directory and the audit records about them."""

    def __init__(
        self, settings: Settings, audit: AuditSink, clock: Clock, stores: ControlStores
    ) -> None:
        self.settings = settings
        self.stores = stores
        self._audit = audit
        self._clock = clock
        self._kill_switch_seen = False

    # -- read before deciding ---------------------------------------------------------------

    def kill_switch_on(self) -> bool:
        """The setting or the file; read every time, so flipping it needs no restart."""
        on = self.settings.approvals.kill_switch or self.stores.kill_switch_file.exists()
        if on != self._kill_switch_seen:
            self._kill_switch_seen = on
            self._audit.append(
                "kill_switch",
                {
                    "on": on,
                    "file": str(self.stores.kill_switch_file),
                    "actor": self._switched_by(on),
                },
                durable=True,
            )
        return on

    def _switched_by(self, on: bool) -> str:
        if self.settings.approvals.kill_switch:
            return "settings"
        try:
            data = orjson.loads(self.stores.kill_switch_file.read_bytes()) if on else {}
        except (OSError, orjson.JSONDecodeError):
            data = {}
        actor = data.get("actor") if isinstance(data, dict) else None
        return str(actor) if actor else "operator"

    def with_overrides(self, ref: WorkloadRef, base: Limits, proposal: Proposal) -> Limits:
        """``base`` with the emergency overrides in force for ``ref`` that are within the
        settings' ceilings; each one used or skipped is audited."""
        self._expire_overrides()
        active = self.stores.overrides.active(ref) if proposal.action is not Action.HOLD else []
        if not active:
            return base
        self.flush()  # an override started elsewhere is audited before its first use
        return overridden_limits(
            ref, base, proposal, active, settings=self.settings, audit=self._audit
        )

    def check_attached(self, state: WorkloadState, proposal: Proposal) -> Verdict | None:
        """A proposal carrying an approval: refuse at once when the approval cannot apply to
        this exact change of this exact object version (before any other check). A
        rollback, which the cooldowns do not delay, must name a snapshot of this workload
        with exactly the target it asks for."""
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        if proposal.source is Source.ROLLBACK:
            rollback_of = proposal.rollback_of
            snapshot = self.stores.snapshots.get(rollback_of) if rollback_of else None
            if snapshot is None or (snapshot.workload, snapshot.replicas) != (str(ref), after):
                return refused(
                    Code.INVALID_PROPOSAL,
                    ref,
                    before,
                    after,
                    f"a rollback must name a snapshot of {ref} with {after} replicas, and "
                    f"{rollback_of!r} is not one.",
                )
        if not proposal.approval_id:
            return None
        result = self.stores.approvals.check(
            proposal.approval_id,
            change_sha256=change_hash(state, after),
            token=proposal.approval_token,
        )
        self.flush()
        return None if result.ok else refused(result.code, ref, before, after, result.message)

    # -- the effects of a decision, in the executor's order -------------------------------------

    def close_approval(self, proposal: Proposal, verdict: Verdict) -> None:
        """The guardrails refused an approved change: the approval is closed, not retried,
        unless the reason passes by itself (``core.transient``): then it stays approved and
        the next cycle tries the change again, until the approval expires."""
        if not proposal.approval_id or verdict.outcome is not Outcome.BLOCKED:
            return
        if is_transient(verdict):
            fields = {"approval_id": proposal.approval_id, "workload": str(proposal.ref)}
            message = kept_sentence(proposal.approval_id, proposal.ref, verdict.code)
            self._audit.append(
                "approval_kept", {**fields, "code": verdict.code.value, "message": message}
            )
            return
        self.stores.approvals.fail(proposal.approval_id, code=verdict.code, message=verdict.message)
        self.flush()

    def request_approval(
        self, state: WorkloadState, proposal: Proposal, risk: Risk, why: str
    ) -> Verdict:
        """A pending approval for exactly this change; its token goes to the requester only."""
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        approval, token = request_change(self.stores, self.settings, state, proposal, risk)
        self.flush()
        left_s = max(0.0, approval.expires_at - self._clock.wall())
        return Verdict(
            Outcome.PENDING,
            Code.APPROVAL_REQUIRED,
            f"Scaling {ref} {before}→{after} waits for a human: {why}; it is "
            f"{risk.summary}. Approval {approval.id} expires in {left_s:.0f} s: run "
            f"{decide_commands(self.settings, approval.id)}.",
            before,
            after,
            approval_id=approval.id,
            confirmation_token=token,
        )

    def use_approval(self, state: WorkloadState, proposal: Proposal) -> Verdict | None:
        """Use up the attached approval (single use) just before the write; None: go on."""
        if not proposal.approval_id:
            return None
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        used = self.stores.approvals.consume(
            proposal.approval_id,
            change_sha256=change_hash(state, after),
            actor=proposal.actor or proposal.source.value,
            token=proposal.approval_token,
        )
        self.flush()
        return None if used.ok else refused(used.code, ref, before, after, used.message)

    def take_snapshot(self, state: WorkloadState, proposal: Proposal) -> Snapshot:
        """Before every write: what the workload looked like, on disk and in the audit log."""
        snapshot = self.stores.snapshots.take(state, proposal)
        self._audit.append(
            "snapshot",
            {
                "snapshot_id": snapshot.id,
                "workload": snapshot.workload,
                "uid": snapshot.uid,
                "replicas": snapshot.replicas,
                "resource_version": snapshot.resource_version,
                "to": snapshot.to_replicas,
                "source": snapshot.source,
                "actor": snapshot.actor,
                "proposal_id": snapshot.proposal_id,
            },
            durable=True,
        )
        return snapshot

    def record_rollback(self, proposal: Proposal, verdict: Verdict) -> None:
        """A rollback's verdict, as its own audit record (idempotent when already there)."""
        if not proposal.rollback_of:
            return
        self._audit.append(
            "rollback",
            {
                "snapshot_id": proposal.rollback_of,
                "workload": str(proposal.ref),
                "source": Source.ROLLBACK.value,
                "actor": proposal.actor or Source.ROLLBACK.value,
                "outcome": verdict.outcome.value,
                "code": verdict.code.value,
                "to": proposal.target_replicas,
                "idempotent": verdict.code is Code.HOLD,
                "approval_id": verdict.approval_id or proposal.approval_id,
            },
        )

    # -- once per cycle ---------------------------------------------------------------------

    def due_approvals(self, only: str | None = None) -> list[Proposal]:
        """Expire and prune, copy outside decisions into the audit log, and return the
        approved changes to carry out (none while the kill switch is on or in observe mode;
        with ``only``, just that approval, as a one-shot CLI command confirmed just that)."""
        stores = self.stores
        stores.approvals.expire_due()
        self._expire_overrides()
        retention_s = self.settings.approvals.snapshot_retention_s
        stores.snapshots.prune()
        self.flush()
        stores.approvals.prune(retention_s)
        stores.overrides.prune(retention_s)
        if self.kill_switch_on() or self.settings.mode.value == modes.OBSERVE:
            return []
        approved = stores.approvals.approved()
        return [approved_proposal(a) for a in approved if only is None or a.id == only]

    def _expire_overrides(self) -> None:
        if self.stores.overrides.expire_due():
            self.flush()

    def flush(self) -> int:
        return self.stores.flush(self._audit)
