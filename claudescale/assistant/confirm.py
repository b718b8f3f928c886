"""Confirmation by elicitation: ``apply_scaling`` and ``rollback`` ask the user, then act.

Layer: edge (the MCP assistant). The question is rendered only from stored facts (the stored
proposal, or the snapshot), never from the tool's arguments, with the reason escaped. It is
asked through a resolver, so both protocol eras work: on a handshake-era connection the
resolver sends ``elicitation/create`` itself under ``confirm_timeout_s``; on a 2026-07-28
connection it returns ``Elicit`` and the client answers on its retry.

Only the user's ``accept`` with ``confirm: true`` approves, as ``user:<client name>`` with the
approval's token, and then the executor re-validates the change against a fresh read. Decline,
cancel, no answer in time and a client without elicitation change nothing: each is audited
and answered with a sentence naming ``claudescale approve``. Nothing the model sends approves:
the tools take no approval, token or confirmation argument, and a proposal ID is only a handle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import anyio
from mcp.server.mcpserver import Context, Elicit
from mcp.server.mcpserver.resolve import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
)
from mcp.types import CallToolResult
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from claudescale.assistant.outputs import error, ok, verdict_out
from claudescale.assistant.proposals import StoredProposal
from claudescale.assistant.runtime import Assistant
from claudescale.control.change_requests import decide_commands, request_change
from claudescale.core.risk import Change, Risk, assess, recent_actions
from claudescale.core.text import printable
from claudescale.core.values import (
    Code,
    Outcome,
    Proposal,
    Source,
    Verdict,
    WorkloadState,
    block,
)

INPUT_REQUIRED_VERSION = "2026-07-28"
CONFIRMED = "confirmed by the user through MCP elicitation"
MAX_REASON_CHARS = 500
_CLIENT_NAME_CHARS = 64
OUT_OF_BAND = (
    "A person can still approve it out of band: `claudescale approvals list`, then "
    "`claudescale approve ID`."
)


class Confirmation(BaseModel):
    """What the user is asked to fill in: one checkbox."""

    confirm: bool = Field(description="Carry out exactly this change now.")


class Answer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    UNAVAILABLE = "unavailable"
    """The client did not declare elicitation: nobody can be asked."""
    NOT_ASKED = "not_asked"
    """Nothing to confirm when asked (an idempotent rollback), but the workload changed."""


@dataclass(frozen=True, slots=True)
class NoQuestion:
    """The resolver found nothing to ask about (unknown, used or expired ID)."""

    code: Code
    message: str


def escape_text(text: str, max_chars: int = MAX_REASON_CHARS) -> str:
    """Text safe to show a person: clipped, every non-printable character a visible escape."""
    return printable(text[:max_chars]) + ("…" if len(text) > max_chars else "")


def client_name(ctx: Context) -> str:
    """The client's declared name, made safe for audit records and actor strings."""
    params = ctx.session.client_params
    name = params.client_info.name if params is not None else ""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name[:_CLIENT_NAME_CHARS])
    return safe or "unknown-client"


def can_elicit(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def proposal_question(stored: StoredProposal) -> str:
    risk = stored.risk
    return (
        f"claudescale: scale {stored.ref} from {stored.from_replicas} to {stored.to_replicas} "
        f"replicas? Risk: {risk.level.value} ({'; '.join(risk.reasons) or 'a small change'}). "
        f'Reason given by the assistant: "{escape_text(stored.reason)}". '
        "The change is checked again against the cluster before it is made."
    )


async def ask(a: Assistant, ctx: Context, question: str) -> Elicit[Confirmation] | Answer:
    """The era-neutral question: a marker on 2026-07-28 connections, the answer itself
    (asked here, under the timeout) on handshake-era ones."""
    if not can_elicit(ctx):
        return Answer.UNAVAILABLE
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
        return Elicit(question, Confirmation)
    with anyio.move_on_after(a.confirm_timeout_s):
        return answer_of(await ctx.elicit(question, Confirmation))
    return Answer.TIMED_OUT


def answer_of(result: ElicitationResult[Confirmation]) -> Answer:
    if isinstance(result, AcceptedElicitation):
        return Answer.ACCEPTED if result.data.confirm else Answer.DECLINED
    if isinstance(result, DeclinedElicitation):
        return Answer.DECLINED
    return Answer.CANCELLED


def normalise(result: object) -> Answer | NoQuestion:
    """The resolver's outcome as one answer."""
    if isinstance(result, AcceptedElicitation):
        result = result.data
    if isinstance(result, Answer | NoQuestion):
        return result
    if isinstance(result, Confirmation):
        return Answer.ACCEPTED if result.confirm else Answer.DECLINED
    if isinstance(result, DeclinedElicitation):
        return Answer.DECLINED
    if isinstance(result, CancelledElicitation):
        return Answer.CANCELLED
    return Answer.CANCELLED


ConfirmOutcome = ElicitationResult[Confirmation]


async def carry_out(
    a: Assistant, state: WorkloadState, proposal: Proposal, risk: Risk, actor: str
) -> Verdict:
    """The user accepted: record their approval of exactly this change (bound to ``state``),
    then let the executor judge and make it."""
    approvals = a.executor.control.approvals
    approval, token = request_change(a.executor.control, a.settings, state, proposal, risk)
    granted = approvals.approve(approval.id, actor=actor, token=token, reason=CONFIRMED)
    if not granted.ok:
        return block(granted.code, granted.message, state.replicas, proposal.target_replicas)
    approved = replace(proposal, actor=actor, approval_id=approval.id, approval_token=token)
    verdict = await a.executor.submit(approved)
    if verdict.outcome is Outcome.EXECUTED:
        a.controller.reconcile_now()  # get_status reads the loop's view: refresh it now
    return verdict


def not_confirmed(
    a: Assistant,
    state: WorkloadState,
    proposal: Proposal,
    risk: Risk,
    answer: Answer,
    client: str,
) -> Verdict:
    """Nothing changes. Unless the user said no, the change waits as a pending approval that
    a person can decide out of band."""
    ref, before, after = state.ref, state.replicas, proposal.target_replicas
    change = f"{ref} {before}→{after}"
    why = {
        Answer.DECLINED: f"the user declined scaling {change}",
        Answer.CANCELLED: f"the user dismissed the question about scaling {change}",
        Answer.TIMED_OUT: f"the user did not answer within {a.confirm_timeout_s:g} s",
        Answer.UNAVAILABLE: f"the MCP client {client} cannot ask its user (no elicitation)",
        Answer.NOT_ASKED: f"{ref} changed while the user was not being asked",
    }[answer]
    approval_id = ""
    if answer is Answer.DECLINED:
        verdict = block(
            Code.APPROVAL_REJECTED, f"Nothing was changed: {why}. {OUT_OF_BAND}", before, after
        )
    else:
        pending = replace(proposal, actor=f"mcp:{client}")
        approval, _ = request_change(a.executor.control, a.settings, state, pending, risk)
        approval_id = approval.id
        left_s = max(0.0, approval.expires_at - a.clock.wall())
        verdict = Verdict(
            Outcome.PENDING,
            Code.APPROVAL_REQUIRED,
            f"Nothing was changed: {why}. The change waits as approval {approval.id}: a person "
            f"can run {decide_commands(a.settings, approval.id)} within {left_s:.0f} s.",
            before,
            after,
            approval_id=approval.id,
        )
    a.executor.control.flush(a.audit)
    a.audit.append(
        "mcp_not_confirmed",
        {
            "workload": str(ref),
            "source": Source.MCP_CLIENT.value,
            "actor": f"mcp:{client}",
            "proposal_id": proposal.proposal_id,
            "answer": answer.value,
            "approval_id": approval_id,
            "from": before,
            "to": after,
            "message": verdict.message,
        },
    )
    return verdict


def refused_id(a: Assistant, what: str, code: Code, message: str, client: str) -> CallToolResult:
    """An unknown, used or expired ID: audited, and an error the model can act on."""
    sentence = f"{message} Nothing was changed. {OUT_OF_BAND}"
    a.audit.append(
        "mcp_refused",
        {
            "source": Source.MCP_CLIENT.value,
            "actor": f"mcp:{client}",
            "what": escape_text(what, 80),
            "code": code.value,
            "message": sentence,
        },
    )
    return error(code, sentence)


async def apply_stored(
    a: Assistant, ctx: Context, proposal_id: str, outcome: ConfirmOutcome
) -> CallToolResult:
    """The body of ``apply_scaling`` once the resolver has asked (or found nothing to ask)."""
    client = client_name(ctx)
    answer = normalise(outcome)
    found = a.book.take(proposal_id)  # single use, whatever the answer
    stored = found.proposal
    if isinstance(answer, NoQuestion) or stored is None:
        code = answer.code if isinstance(answer, NoQuestion) else found.code
        message = answer.message if isinstance(answer, NoQuestion) else found.message
        return refused_id(a, proposal_id, code, message, client)
    state = stored.state()
    proposal = Proposal(
        ref=stored.ref,
        action=stored.action,
        target_replicas=stored.to_replicas,
        reason=stored.reason,
        source=Source.MCP_CLIENT,
        from_replicas=stored.from_replicas,
        proposal_id=stored.id,
    )
    if answer is Answer.ACCEPTED:
        verdict = await carry_out(a, state, proposal, stored.risk, f"user:{client}")
    else:
        verdict = not_confirmed(a, state, proposal, stored.risk, answer, client)
    return ok(verdict_out(str(stored.ref), verdict))


def rollback_risk(a: Assistant, state: WorkloadState, to_replicas: int) -> Risk:
    limits = a.settings.limits_for(state.ref, state.overrides)
    history = a.executor.history(state.ref)
    window_s = a.settings.risk.frequency_window_s
    recent = recent_actions(history, a.clock.now(), window_s)
    return assess(Change(state.ref, state.replicas, to_replicas), a.settings.risk, limits, recent)
