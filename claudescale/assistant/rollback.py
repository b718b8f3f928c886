"""The ``rollback`` tool: restore a snapshot's replica count, confirmed like ``apply_scaling``.

Layer: edge (the MCP assistant). The question is rendered from the stored snapshot alone
("roll demo/web back to 3 replicas"), so it reads the same on every round of a 2026-07-28
retry; the change itself is bound to the fresh read made after the user answered, and the
executor checks it again (bounds, compare-and-swap; cooldowns do not delay a rollback). A
workload already at the snapshot's count is an idempotent hold, with no question.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, Elicit
from mcp.types import CallToolResult

from claudescale.assistant.confirm import (
    Answer,
    Confirmation,
    ConfirmOutcome,
    NoQuestion,
    ask,
    carry_out,
    client_name,
    escape_text,
    normalise,
    not_confirmed,
    refused_id,
    rollback_risk,
)
from claudescale.assistant.outputs import error, iso, ok, verdict_out
from claudescale.assistant.runtime import Assistant, ReadFailed
from claudescale.control.snapshots import Snapshot, rollback_proposal
from claudescale.core.values import Action, Code
from claudescale.errors import NotFound, StateError


def find(a: Assistant, snapshot_id: str) -> Snapshot | NoQuestion:
    try:
        snapshot = a.executor.control.snapshots.get(snapshot_id)
    except StateError as exc:
        return NoQuestion(Code.WRITE_FAILED, str(exc))
    if snapshot is None:
        days = a.settings.approvals.snapshot_retention_s / 86400
        return NoQuestion(
            Code.INVALID_PROPOSAL,
            f"There is no snapshot {escape_text(snapshot_id, 40)!r} (snapshots are kept "
            f"{days:g} days; list_snapshots lists them).",
        )
    return snapshot


def question(snapshot: Snapshot) -> str:
    return (
        f"claudescale: roll {snapshot.workload} back to {snapshot.replicas} replicas "
        f"(snapshot {snapshot.id}, taken {iso(snapshot.taken_at)} before the change "
        f"{snapshot.replicas}→{snapshot.to_replicas} by {escape_text(snapshot.actor, 80)})? "
        "The change is checked again against the cluster before it is made."
    )


async def ask_rollback(
    a: Assistant, ctx: Context, snapshot_id: str
) -> Elicit[Confirmation] | Answer | NoQuestion:
    found = find(a, snapshot_id)
    if isinstance(found, NoQuestion):
        return found
    try:
        state = await a.read(found.ref)
    except (NotFound, ReadFailed):
        return Answer.NOT_ASKED  # the body reads again and says what is wrong
    if state.replicas == found.replicas:
        return Answer.NOT_ASKED  # already there: an idempotent hold, nothing to confirm
    return await ask(a, ctx, question(found))


async def roll_back(
    a: Assistant, ctx: Context, snapshot_id: str, outcome: ConfirmOutcome
) -> CallToolResult:
    client = client_name(ctx)
    answer = normalise(outcome)
    if isinstance(answer, NoQuestion):
        return refused_id(a, snapshot_id, answer.code, answer.message, client)
    found = find(a, snapshot_id)
    if isinstance(found, NoQuestion):
        return refused_id(a, snapshot_id, found.code, found.message, client)
    try:
        state = await a.read(found.ref)
    except NotFound:
        return error(Code.TARGET_GONE, f"Cannot roll back {found.workload}: it no longer exists.")
    except ReadFailed as exc:
        return error(Code.WRITE_FAILED, str(exc))
    if state.uid != found.uid:
        return error(
            Code.APPROVAL_MISMATCH,
            f"Cannot roll back {found.workload} to snapshot {found.id}: the Deployment was "
            "deleted and created again since (its uid differs).",
        )
    proposal = rollback_proposal(found, state, f"mcp:{client}")
    if proposal.action is Action.HOLD:
        verdict = await a.executor.submit(proposal)
    elif answer is Answer.ACCEPTED:
        risk = rollback_risk(a, state, found.replicas)
        verdict = await carry_out(a, state, proposal, risk, f"user:{client}")
    else:
        risk = rollback_risk(a, state, found.replicas)
        verdict = not_confirmed(a, state, proposal, risk, answer, client)
    return ok(verdict_out(found.workload, verdict))
