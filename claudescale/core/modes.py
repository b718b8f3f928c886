"""The mode gate: after the guardrails allowed a change, may it run now, or only be recorded,
or must a human approve it first?

Layer: pure core. ``decide`` is a function of the mode, the kill switch, the change's risk,
who proposed it and whether a valid human approval is attached. It does not check the
approval itself (the executor does, against fresh state) and it never writes anything.

The order is the safety order: the kill switch and observe mode beat everything (nothing is
written, not even an approved change); a critical workload the operator did not allow-list is
refused; an attached, verified approval lets the change through; supervised mode, a human
source (an MCP client, the CLI, a rollback) and high or critical risk each need one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claudescale.core.risk import Risk, RiskLevel
from claudescale.core.values import Source

OBSERVE = "observe"
SUPERVISED = "supervised"
AUTONOMOUS = "autonomous"
MODES = frozenset({OBSERVE, SUPERVISED, AUTONOMOUS})

HUMAN_SOURCES = frozenset({Source.MCP_CLIENT, Source.CLI, Source.ROLLBACK})
"""Changes a person asked for through a tool: they always need that person's explicit
confirmation, whatever the mode (the confirmation is the approval)."""


class GateDecision(StrEnum):
    PROCEED = "proceed"
    DRY_RUN = "dry_run"
    APPROVAL_REQUIRED = "approval_required"
    CRITICAL_WORKLOAD = "critical_workload"


@dataclass(frozen=True, slots=True)
class GateResult:
    decision: GateDecision
    why: str
    """Half a sentence saying why, e.g. 'supervised mode: every change needs a human'."""


def decide(
    mode: str, *, kill_switch: bool, risk: Risk, source: Source, approved: bool
) -> GateResult:
    """What happens to a change the guardrails allowed. ``mode`` is a ``Mode`` value."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; expected one of {sorted(MODES)}.")
    if kill_switch:
        return GateResult(GateDecision.DRY_RUN, "the kill switch is on: nothing is written")
    if mode == OBSERVE:
        return GateResult(GateDecision.DRY_RUN, "observe mode: nothing is written")
    if risk.level is RiskLevel.CRITICAL and not risk.critical_allowed:
        return GateResult(
            GateDecision.CRITICAL_WORKLOAD,
            f"the name matches the critical pattern {risk.critical_pattern!r} and the "
            "operator has not allow-listed it",
        )
    if approved:
        return GateResult(GateDecision.PROCEED, "a human approved this exact change")
    if mode == SUPERVISED:
        return GateResult(
            GateDecision.APPROVAL_REQUIRED, "supervised mode: every change needs a human"
        )
    if source in HUMAN_SOURCES:
        return GateResult(
            GateDecision.APPROVAL_REQUIRED,
            f"a change asked for through {source.value} needs its requester's confirmation",
        )
    if risk.level.rank >= RiskLevel.HIGH.rank:
        return GateResult(
            GateDecision.APPROVAL_REQUIRED,
            f"in autonomous mode a {risk.level.value}-risk change needs a human",
        )
    return GateResult(GateDecision.PROCEED, f"autonomous mode, {risk.summary}")
