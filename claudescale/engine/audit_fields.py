"""The fields the executor writes into the audit log for a proposal and its evaluation.

Layer: orchestration support; pure functions from values to plain JSON values. The evaluation
record holds every input of the verdict, so that it can be re-run later.
"""

from __future__ import annotations

import math
from typing import Any

from claudescale.core.guardrails import Situation
from claudescale.core.values import Proposal, Verdict


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
