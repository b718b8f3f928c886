"""The fields the executor writes into the audit log for a proposal, its evaluation and its
verdict, and the record of a proposal refused before it reached the executor's queue.

Layer: engine support; functions from values to plain JSON values. The evaluation record
holds every input of the verdict, so that it can be re-run later.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from typing import Any

from claudescale.core.guardrails import Situation
from claudescale.core.values import Code, Proposal, Verdict, block
from claudescale.ports import AuditSink


def proposal_fields(proposal: Proposal) -> dict[str, Any]:
    return {
        "workload": str(proposal.ref),
        "proposal_id": proposal.proposal_id,
        "source": proposal.source.value,
        "actor": proposal.actor or proposal.source.value,
        "action": proposal.action.value,
        "target": proposal.target_replicas,
        "from": proposal.from_replicas,
        "reason": proposal.reason,
    }


def evaluation_fields(situation: Situation, proposal: Proposal, verdict: Verdict) -> dict[str, Any]:
    """Everything needed to re-run the verdict later, as plain JSON values."""
    state, reading, history = situation.state, situation.reading, situation.history
    return {
        "workload": str(state.ref),
        "proposal_id": proposal.proposal_id,
        "code": verdict.code.value,
        "now": situation.now,
        "state": {
            "uid": state.uid,
            "replicas": state.replicas,
            "resource_version": state.resource_version,
            "paused": state.paused,
            "owner": state.owner,
            "managed": state.managed,
            "rollout_in_progress": state.rollout_in_progress,
            "pods": [[p.name, p.ready, p.terminating, p.cpu_request_cores] for p in state.pods],
        },
        "reading": None
        if reading is None
        else {
            "percent": json_float(reading.percent),
            "age_s": reading.age_s,
            "missing_pods": list(reading.missing_pods),
        },
        "history": {
            "last_scale_up_at": history.last_scale_up_at,
            "last_change_at": history.last_change_at,
            "action_times": list(history.action_times),
            "reversion_times": list(history.reversion_times),
            "external_controller": history.external_controller,
        },
        "limits": situation.limits.model_dump(mode="json"),
    }


def json_float(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return str(value)


def verdict_fields(proposal: Proposal, verdict: Verdict) -> dict[str, Any]:
    return {
        "workload": str(proposal.ref),
        "proposal_id": proposal.proposal_id,
        "source": proposal.source.value,
        "actor": proposal.actor or proposal.source.value,
        "outcome": verdict.outcome.value,
        "code": verdict.code.value,
        "from": verdict.from_replicas,
        "to": verdict.to_replicas,
        "message": verdict.message,
    }


def record_unqueued(audit: AuditSink, proposal: Proposal, code: Code, message: str) -> Verdict:
    """Refuse and record a proposal that never reached the executor (a reply that did not
    parse, a workload the proposer was not asked about): its proposal and verdict records."""
    if not proposal.proposal_id:
        proposal = replace(proposal, proposal_id=uuid.uuid4().hex[:16])
    verdict = block(code, message, proposal.from_replicas, None)
    audit.append("proposal", proposal_fields(proposal))
    audit.append("verdict", verdict_fields(proposal, verdict))
    return verdict
