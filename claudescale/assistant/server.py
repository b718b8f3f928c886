"""The MCP server: claudescale's tools for an assistant, on the running service.

Layer: edge (the MCP assistant; the only package besides the adapters that imports ``mcp``).
``build_server`` registers the tools on an ``MCPServer`` around an ``Assistant``. Tool names
and result fields are a contract (issue 10). Read-only tools say so (``readOnlyHint``);
``apply_scaling`` and ``rollback`` are destructive and ask the user first
(``claudescale.assistant.confirm``); ``read_only=True`` leaves every mutating tool out.
Every result has an output schema and structured content. The resources and the prompt are
in ``claudescale.assistant.resources``, subscriptions to them in
``claudescale.assistant.updates``. No ``from __future__ import
annotations`` here: the SDK reads the tools' annotations, and the resolvers they name are
local to ``build_server``.
"""

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from claudescale import __version__
from claudescale.assistant import listings, tools
from claudescale.assistant.confirm import (
    Answer,
    Confirmation,
    ConfirmOutcome,
    NoQuestion,
    apply_stored,
    ask,
    client_name,
    proposal_question,
)
from claudescale.assistant.outputs import (
    AuditOut,
    MetricsOut,
    PreviewOut,
    ProposalsOut,
    ReconcileOut,
    SituationOut,
    SnapshotsOut,
    StatusOut,
    VerdictOut,
)
from claudescale.assistant.resources import register_resources
from claudescale.assistant.rollback import ask_rollback, roll_back
from claudescale.assistant.runtime import Assistant
from claudescale.assistant.updates import ResourceUpdates

INSTRUCTIONS = (
    "claudescale scales Kubernetes Deployments within guardrails. Read with get_status, "
    "get_metrics and get_situation. To change replicas, call propose_scaling (a preview that "
    "changes nothing), then apply_scaling with its proposal_id: the user is asked to confirm, "
    "and the guardrails decide again before anything is written."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
MUTATING_TOOLS = ("apply_scaling", "rollback", "reconcile_now")

Namespace = Annotated[str, Field(min_length=1, max_length=253, description="The namespace.")]
Name = Annotated[str, Field(min_length=1, max_length=253, description="The Deployment's name.")]
OptionalNamespace = Annotated[
    str | None, Field(None, max_length=253, description="Only this namespace.")
]
OptionalName = Annotated[str | None, Field(None, max_length=253, description="Only this name.")]


def build_server(
    a: Assistant, *, read_only: bool = False, updates: ResourceUpdates | None = None
) -> MCPServer:
    """The server; with ``updates``, clients may subscribe to the resources (see
    ``claudescale.assistant.updates``; its sender runs beside the server)."""
    server: MCPServer = MCPServer(
        "claudescale",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        subscriptions=None if updates is None else updates.bus,
    )

    async def get_status() -> Annotated[CallToolResult, StatusOut]:
        """Mode, kill switch and every managed workload: replicas, CPU, bounds, cooldowns
        and the last decision."""
        return await tools.get_status(a)

    async def get_metrics(
        namespace: Namespace,
        name: Name,
        window_minutes: Annotated[int, Field(ge=1, le=60, description="How far back.")] = 15,
    ) -> Annotated[CallToolResult, MetricsOut]:
        """CPU (percent of requests) and replica series of one workload, as read by the
        service."""
        return await tools.get_metrics(a, namespace, name, window_minutes)

    async def get_situation() -> Annotated[CallToolResult, SituationOut]:
        """Exactly the summary (and system prompt) a model proposer is given."""
        return await tools.get_situation(a)

    async def propose_scaling(
        namespace: Namespace,
        name: Name,
        target_replicas: Annotated[int, Field(ge=0, le=1_000_000)],
        reason: Annotated[str, Field(max_length=2000, description="One sentence, with numbers.")],
        ctx: Context,
    ) -> Annotated[CallToolResult, PreviewOut]:
        """Preview a change; changes nothing. Returns the verdict the guardrails give now,
        the risk, and (when it could go ahead) a single-use proposal_id for apply_scaling."""
        actor = f"mcp:{client_name(ctx)}"
        return await tools.propose_scaling(a, namespace, name, target_replicas, reason, actor)

    async def ask_apply(
        proposal_id: str, ctx: Context
    ) -> Elicit[Confirmation] | Answer | NoQuestion:
        found = a.book.peek(proposal_id)
        if found.proposal is None:
            return NoQuestion(found.code, found.message)
        return await ask(a, ctx, proposal_question(found.proposal))

    async def apply_scaling(
        proposal_id: Annotated[str, Field(max_length=200, description="From propose_scaling.")],
        ctx: Context,
        outcome: Annotated[ConfirmOutcome, Resolve(ask_apply)],
    ) -> Annotated[CallToolResult, VerdictOut]:
        """Ask the user to confirm a previewed change; if they accept, the executor checks
        it again against the cluster and makes it. A proposal_id works once."""
        return await apply_stored(a, ctx, proposal_id, outcome)

    def list_proposals() -> Annotated[CallToolResult, ProposalsOut]:
        """Open previews, and changes waiting for (or given) a person's approval."""
        return listings.list_proposals(a)

    def list_snapshots(
        namespace: OptionalNamespace = None, name: OptionalName = None
    ) -> Annotated[CallToolResult, SnapshotsOut]:
        """Workload states kept before each write (the newest 100), for rollback."""
        return listings.list_snapshots(a, namespace, name)

    async def ask_roll_back(
        snapshot_id: str, ctx: Context
    ) -> Elicit[Confirmation] | Answer | NoQuestion:
        return await ask_rollback(a, ctx, snapshot_id)

    async def rollback(
        snapshot_id: Annotated[str, Field(max_length=200, description="From list_snapshots.")],
        ctx: Context,
        outcome: Annotated[ConfirmOutcome, Resolve(ask_roll_back)],
    ) -> Annotated[CallToolResult, VerdictOut]:
        """Restore a snapshot's replica count, after the user confirms; the same guardrails
        apply (cooldowns excepted)."""
        return await roll_back(a, ctx, snapshot_id, outcome)

    def get_audit_log(
        namespace: OptionalNamespace = None,
        name: OptionalName = None,
        limit: Annotated[int, Field(ge=1, le=listings.MAX_AUDIT_RECORDS)] = 50,
        since: Annotated[
            datetime | None,
            Field(
                None,
                description="Only records from this time on: ISO 8601 (as the results' "
                "`at` fields; UTC when it names no zone) or Unix seconds.",
            ),
        ] = None,
    ) -> Annotated[CallToolResult, AuditOut]:
        """The newest audit records (every decision, who asked and why), optionally of one
        workload and since a time."""
        since_unix_s = None
        if since is not None:
            since_unix_s = (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
        return listings.get_audit_log(a, namespace, name, limit, since_unix_s)

    def reconcile_now() -> Annotated[CallToolResult, ReconcileOut]:
        """Start the poll loop's next cycle now."""
        return listings.reconcile_now(a)

    read: list[Callable[..., Any]] = [get_status, get_metrics, get_situation, propose_scaling]
    read += [list_proposals, list_snapshots, get_audit_log]
    for fn in read:
        _add(server, fn, READ_ONLY)
    if not read_only:
        _add(server, apply_scaling, DESTRUCTIVE)
        _add(server, rollback, DESTRUCTIVE)
        _add(server, reconcile_now, ToolAnnotations(read_only_hint=False, destructive_hint=False))
    register_resources(server, a, read_only=read_only)
    if updates is not None:
        updates.install(server)
    return server


def _add(server: MCPServer, fn: Callable[..., Any], annotations: ToolAnnotations) -> None:
    description = inspect.cleandoc(fn.__doc__ or "").replace("\n", " ")
    server.add_tool(fn, description=description, annotations=annotations, structured_output=True)
