"""The executor's human-control gate: modes, kill switch, risk, approvals, overrides, snapshots.

Layer: orchestration (called only by the executor, inside its per-workload handling). It joins
the pure decisions (``core.risk.assess``, ``core.gate.decide``) to the local stores (approvals,
snapshots, overrides) and writes what happens to the audit log. It never talks to the cluster:
the executor hands it fresh state and does the write itself.

Decisions made in another process (``claudescale approve`` while the service holds the audit
log) are stored as events on the approval or override; ``flush`` copies them into the audit
log, always before the change they allow is carried out.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from claudescale.config import Settings
from claudescale.control.approvals import Approval, ApprovalStore, change_sha256
from claudescale.control.overrides import OverrideStore
from claudescale.control.overrides import apply as apply_overrides
from claudescale.control.snapshots import Snapshot, SnapshotStore
from claudescale.control.state_file import Json
from claudescale.control.store_events import copy_events
from claudescale.core import modes as gate
from claudescale.core.limits import Limits
from claudescale.core.risk import Change, Risk, assess, is_production, recent_actions
from claudescale.core.values import (
    Action,
    Code,
    History,
    Outcome,
    Proposal,
    Source,
    Verdict,
    WorkloadRef,
    WorkloadState,
    block,
)
from claudescale.ports import AuditSink, Clock


class Gatekeeper:
    """Owns the stores in ``state_dir`` and the audit records about them."""

    def __init__(self, settings: Settings, audit: AuditSink, clock: Clock, state_dir: Path):
        self.settings = settings
        self.state_dir = state_dir
        self.approvals = ApprovalStore(state_dir / "approvals.json", clock)
        self.overrides = OverrideStore(state_dir / "overrides.json", clock)
        control = settings.approvals
        self.snapshots = SnapshotStore(
            state_dir / "snapshots.jsonl", clock, control.snapshot_retention_s
        )
        self.kill_switch_file = control.kill_switch_file or state_dir / "kill-switch"
        self._audit = audit
        self._clock = clock
        self._kill_switch_seen = False

    # -- before the guardrails ----------------------------------------------------------

    def kill_switch_on(self) -> bool:
        """The setting or the file; read every time, so flipping it needs no restart."""
        on = self.settings.approvals.kill_switch or self.kill_switch_file.exists()
        if on != self._kill_switch_seen:
            self._kill_switch_seen = on
            self._audit.append(
                "kill_switch",
                {"on": on, "file": str(self.kill_switch_file), "actor": self._switched_by(on)},
                durable=True,
            )
        return on

    def _switched_by(self, on: bool) -> str:
        if self.settings.approvals.kill_switch:
            return "settings"
        try:
            data = orjson.loads(self.kill_switch_file.read_bytes()) if on else {}
        except (OSError, orjson.JSONDecodeError):
            data = {}
        actor = data.get("actor") if isinstance(data, dict) else None
        return str(actor) if actor else "operator"

    def limits(self, ref: WorkloadRef, base: Limits, proposal: Proposal) -> Limits:
        """``base`` with the emergency overrides in force for ``ref``; each one used is audited."""
        self._expire_overrides()
        active = self.overrides.active(ref) if proposal.action is not Action.HOLD else []
        if not active:
            return base
        self.flush()  # an override started elsewhere is audited before its first use
        try:
            limits = apply_overrides(base, active)
        except ValueError as exc:
            self._audit.append(
                "override_skipped",
                {"workload": str(ref), "override_ids": [o.id for o in active], "error": str(exc)},
            )
            return base
        for override in active:
            self._audit.append(
                "override_used",
                {
                    "override_id": override.id,
                    "workload": str(ref),
                    "proposal_id": proposal.proposal_id,
                    "changes": dict(override.changes),
                    "actor": override.who,
                    "why": override.why,
                    "source": proposal.source.value,
                },
            )
        return limits

    def check_attached(self, state: WorkloadState, proposal: Proposal) -> Verdict | None:
        """A proposal carrying an approval: refuse at once when the approval cannot apply to
        this exact change of this exact object version (before any other check). A
        rollback, which the cooldowns do not delay, must name a snapshot of this workload
        with exactly the target it asks for."""
        if proposal.source is Source.ROLLBACK:
            snapshot = self.snapshots.get(proposal.rollback_of) if proposal.rollback_of else None
            if snapshot is None or (snapshot.workload, snapshot.replicas) != (
                str(state.ref),
                proposal.target_replicas,
            ):
                return block(
                    Code.INVALID_PROPOSAL,
                    f"Refused scaling {state.ref} {state.replicas}→{proposal.target_replicas}: "
                    f"a rollback must name a snapshot of {state.ref} with "
                    f"{proposal.target_replicas} replicas, and {proposal.rollback_of!r} "
                    "is not one.",
                    state.replicas,
                    proposal.target_replicas,
                )
        if not proposal.approval_id:
            return None
        result = self.approvals.check(
            proposal.approval_id,
            change_sha256=_hash(state, proposal.target_replicas),
            token=proposal.approval_token,
        )
        self.flush()
        if result.ok:
            return None
        return block(
            result.code,
            f"Refused scaling {state.ref} {state.replicas}→{proposal.target_replicas}: "
            f"{result.message}",
            state.replicas,
            proposal.target_replicas,
        )

    def settle(self, proposal: Proposal, verdict: Verdict) -> None:
        """The guardrails refused an approved change: the approval is closed, not retried."""
        if proposal.approval_id and verdict.outcome is Outcome.BLOCKED:
            self.approvals.fail(proposal.approval_id, code=verdict.code, message=verdict.message)
            self.flush()

    # -- after the guardrails allowed it --------------------------------------------------

    def decide(
        self, state: WorkloadState, proposal: Proposal, limits: Limits, history: History, now: float
    ) -> Verdict | None:
        """None: go ahead and write. Otherwise the verdict (dry run, refusal or pending)."""
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        risk_settings = self.settings.risk
        recent = recent_actions(history, now, risk_settings.frequency_window_s)
        risk = assess(Change(ref, before, after), risk_settings, limits, recent)
        result = gate.decide(
            self.settings.mode.value,
            kill_switch=self.kill_switch_on(),
            risk=risk,
            source=proposal.source,
            approved=bool(proposal.approval_id),
        )
        decision = result.decision
        if decision is gate.GateDecision.DRY_RUN:
            return block(
                Code.DRY_RUN,
                f"Would scale {ref} {before}→{after} ({result.why}).",
                before,
                after,
            )
        if decision is gate.GateDecision.CRITICAL_WORKLOAD:
            return block(
                Code.CRITICAL_WORKLOAD, f"Refused scaling {ref} {before}→{after}: {result.why}."
            )
        if decision is gate.GateDecision.APPROVAL_REQUIRED:
            return self._request(state, proposal, risk, result.why)
        if proposal.approval_id:
            used = self.approvals.consume(
                proposal.approval_id,
                change_sha256=_hash(state, after),
                actor=proposal.actor or proposal.source.value,
                token=proposal.approval_token,
            )
            self.flush()
            if not used.ok:
                return block(
                    used.code,
                    f"Refused scaling {ref} {before}→{after}: {used.message}",
                    before,
                    after,
                )
        return None

    def _request(self, state: WorkloadState, proposal: Proposal, risk: Risk, why: str) -> Verdict:
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        ttl_s = ttl_for(self.settings, ref)
        change = change_record(state, proposal, risk)
        approval, token = self.approvals.create(
            change, ttl_s=ttl_s, reuse_pending=proposal.source not in gate.HUMAN_SOURCES
        )
        self.flush()
        left_s = max(0.0, approval.expires_at - self._clock.wall())
        return Verdict(
            Outcome.PENDING,
            Code.APPROVAL_REQUIRED,
            f"Scaling {ref} {before}→{after} waits for a human: {why}; it is "
            f"{risk.summary}. Approval {approval.id} expires in {left_s:.0f} s: run "
            f"`claudescale approve {approval.id}` or `claudescale reject {approval.id}`.",
            before,
            after,
            approval_id=approval.id,
            confirmation_token=token,
        )

    # -- the write and after --------------------------------------------------------------

    def snapshot(self, state: WorkloadState, proposal: Proposal) -> Snapshot:
        """Before every write: what the workload looked like, on disk and in the audit log."""
        snapshot = self.snapshots.take(state, proposal)
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

    def after(self, proposal: Proposal, verdict: Verdict) -> None:
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

    # -- once per cycle -------------------------------------------------------------------

    def housekeeping(self, only: str | None = None) -> list[Proposal]:
        """Expire and prune, copy outside decisions into the audit log, and return the
        approved changes to carry out (none while the kill switch is on or in observe mode;
        with ``only``, just that approval, as a one-shot CLI command confirmed just that)."""
        self.approvals.expire_due()
        self._expire_overrides()
        retention_s = self.settings.approvals.snapshot_retention_s
        self.snapshots.prune()
        self.flush()
        self.approvals.prune(retention_s)
        self.overrides.prune(retention_s)
        if self.kill_switch_on() or self.settings.mode.value == gate.OBSERVE:
            return []
        approved = self.approvals.approved()
        return [approved_proposal(a) for a in approved if only is None or a.id == only]

    def _expire_overrides(self) -> None:
        if self.overrides.expire_due():
            self.flush()

    def flush(self) -> int:
        """Copy every stored event not yet in the audit log into it; returns how many."""
        stores = ((self.approvals.document, "approvals"), (self.overrides.document, "overrides"))
        return sum(copy_events(document, key, self._audit) for document, key in stores)


def ttl_for(settings: Settings, ref: WorkloadRef) -> float:
    """How long an approval for ``ref`` stays valid: longer in production namespaces."""
    control = settings.approvals
    production = is_production(ref.namespace, settings.risk.production_namespaces)
    return control.production_token_ttl_s if production else control.token_ttl_s


def change_record(state: WorkloadState, proposal: Proposal, risk: Risk) -> Json:
    """What an approval stores about the change it allows, bound to ``state``."""
    return {
        "workload": str(state.ref),
        "uid": state.uid,
        "from": state.replicas,
        "to": proposal.target_replicas,
        "resource_version": state.resource_version,
        "change_sha256": _hash(state, proposal.target_replicas),
        "action": proposal.action.value,
        "reason": proposal.reason.strip(),
        "source": proposal.source.value,
        "actor": proposal.actor or proposal.source.value,
        "proposal_id": proposal.proposal_id,
        "rollback_of": proposal.rollback_of,
        "risk": risk.level.value,
        "risk_reasons": list(risk.reasons),
    }


def approved_proposal(approval: Approval) -> Proposal:
    """The proposal that carries out an approved change (checked again by the executor)."""
    return Proposal(
        ref=WorkloadRef.parse(approval.workload),
        action=Action(approval.action),
        target_replicas=approval.to_replicas,
        reason=approval.reason,
        source=Source(approval.source),
        from_replicas=approval.from_replicas,
        actor=approval.actor,
        proposal_id=approval.proposal_id or approval.id,
        approval_id=approval.id,
        rollback_of=approval.rollback_of,
    )


def _hash(state: WorkloadState, to_replicas: int) -> str:
    ref = state.ref
    return change_sha256(
        ref.namespace, ref.name, state.uid, state.replicas, to_replicas, state.resource_version
    )
