"""Change requests: the approval a change waits for, bound to exactly that change, and the
proposal that carries out an approved one.

Layer: control. ``request_change`` is the one way an approval is created for a change (by
the executor, a CLI rollback while the service runs, or an MCP confirmation);
``approved_proposal`` turns an approved change back into a proposal the executor judges
again. ``change_hash`` binds both to the namespace, name, uid, from, to and resourceVersion.
"""

from __future__ import annotations

import shlex

from claudescale.config import Settings
from claudescale.control.approval_values import Approval, change_sha256
from claudescale.control.state_file import Json
from claudescale.control.stores import ControlStores
from claudescale.core import modes
from claudescale.core.risk import Risk, is_production
from claudescale.core.values import Action, Proposal, Source, WorkloadRef, WorkloadState


def request_change(
    stores: ControlStores, settings: Settings, state: WorkloadState, proposal: Proposal, risk: Risk
) -> tuple[Approval, str]:
    """Store a pending approval bound to exactly this change; returns it and its token. A
    proposal from the loop reuses the pending approval of the same change; a person's
    request (MCP client, CLI, rollback) always gets its own."""
    return stores.approvals.create(
        change_record(state, proposal, risk),
        ttl_s=ttl_for(settings, state.ref),
        reuse_pending=proposal.source not in modes.HUMAN_SOURCES,
    )


def decide_commands(settings: Settings, approval_id: str) -> str:
    """The out-of-band commands that decide an approval, runnable as printed: they name the
    service's settings file when it has one."""
    source = settings.source_path
    config = "" if source is None else f" --config {shlex.quote(str(source))}"
    return (
        f"`claudescale approve {approval_id}{config}` or `claudescale reject {approval_id}{config}`"
    )


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
        "change_sha256": change_hash(state, proposal.target_replicas),
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


def change_hash(state: WorkloadState, to_replicas: int) -> str:
    ref = state.ref
    return change_sha256(
        ref.namespace, ref.name, state.uid, state.replicas, to_replicas, state.resource_version
    )
