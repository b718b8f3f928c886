"""One decision: the guardrails, then the risk, then the mode gate, as one pure function.

Layer: pure core. ``decide`` is what the executor asks about every proposal, on its own fresh
read; it says what should happen and why, and does nothing. The executor then carries out the
effects in order (record, approval request, snapshot, intent, patch, outcome). A preview (an
MCP ``propose_scaling``) asks the same function and carries out nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claudescale.core import modes
from claudescale.core.guardrails import Situation, evaluate
from claudescale.core.messages import refused
from claudescale.core.risk import Change, Risk, RiskSettings, assess, recent_actions
from claudescale.core.values import Code, Proposal, Verdict, block


class Step(StrEnum):
    """What the executor does next with a proposal."""

    STOP = "stop"
    """Refused, held, or recorded only (dry run): ``Decision.verdict`` is final."""
    ASK_HUMAN = "ask_human"
    """Allowed by the guardrails, but a person must approve it first."""
    WRITE = "write"
    """Allowed, and nothing else stands in the way: write it."""


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    verdict: Verdict
    """Final for ``STOP``; for ``ASK_HUMAN`` and ``WRITE`` the guardrails' ``ok``."""
    guardrails: Verdict
    """What the guardrails alone said (the evaluation record keeps it)."""
    risk: Risk | None = None
    """Assessed once the guardrails allowed the change."""
    why: str = ""
    """For ``ASK_HUMAN``: half a sentence saying why a human is needed."""


def decide(
    situation: Situation,
    proposal: Proposal,
    *,
    mode: str,
    kill_switch: bool,
    risk_settings: RiskSettings,
    approved: bool,
) -> Decision:
    """The guardrails first (any refusal or hold is final), then the change's risk, then the
    mode gate (kill switch and observe record only; critical names are refused; supervised
    mode, a human source or high risk need a human unless ``approved``)."""
    verdict = evaluate(situation, proposal)
    if not verdict.allowed:
        return Decision(Step.STOP, verdict, verdict)
    state, now = situation.state, situation.now
    ref, before, after = state.ref, state.replicas, proposal.target_replicas
    recent = recent_actions(situation.history, now, risk_settings.frequency_window_s)
    risk = assess(Change(ref, before, after), risk_settings, situation.limits, recent)
    gate = modes.decide(
        mode, kill_switch=kill_switch, risk=risk, source=proposal.source, approved=approved
    )
    if gate.decision is modes.GateDecision.DRY_RUN:
        dry = block(
            Code.DRY_RUN, f"Would scale {ref} {before}→{after} ({gate.why}).", before, after
        )
        return Decision(Step.STOP, dry, verdict, risk)
    if gate.decision is modes.GateDecision.CRITICAL_WORKLOAD:
        critical = refused(Code.CRITICAL_WORKLOAD, ref, before, after, f"{gate.why}.")
        return Decision(Step.STOP, critical, verdict, risk)
    if gate.decision is modes.GateDecision.APPROVAL_REQUIRED:
        return Decision(Step.ASK_HUMAN, verdict, verdict, risk, gate.why)
    return Decision(Step.WRITE, verdict, verdict, risk)
