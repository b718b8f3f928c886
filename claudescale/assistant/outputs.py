"""The MCP tools' results: output schemas, structured content, and errors the model can fix.

Layer: edge (the MCP assistant). Field names are a contract with MCP clients (issue 10), so
each tool's result is one pydantic model here and its JSON Schema is the tool's
``outputSchema``. An error the model can fix (an unknown workload, an expired proposal) is an
``isError`` result whose text is the gate's sentence and whose structured content carries the
code; nothing here decides anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from claudescale.core.values import Code, Verdict


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DecisionOut(_Out):
    source: str
    outcome: str
    code: str
    message: str
    at: str = Field(description="When it was decided, ISO 8601 UTC.")


class WorkloadStatusOut(_Out):
    namespace: str
    name: str
    replicas: int
    cpu_percent: float | None = Field(description="CPU in percent of requests; null: no data.")
    min_replicas: int
    max_replicas: int
    cooldown_up_s_left: float
    cooldown_down_s_left: float
    last_decision: DecisionOut | None


class StatusOut(_Out):
    mode: str
    kill_switch: bool
    workloads: list[WorkloadStatusOut]


class PointOut(_Out):
    at: str
    cpu_percent: float | None
    replicas: int


class MetricsOut(_Out):
    namespace: str
    name: str
    window_minutes: int
    points: list[PointOut] = Field(description="Oldest first, as the service read them.")


class SituationOut(_Out):
    system_prompt: str
    prompt: str = Field(
        description="The user message a model is sent: a header line and one JSON object "
        "with numbers, fixed words and escaped workload names only."
    )


class VerdictOut(_Out):
    workload: str
    outcome: str = Field(description="executed, blocked, held or pending.")
    code: str
    message: str
    from_replicas: int | None
    to_replicas: int | None
    approval_id: str | None = Field(
        None, description="A pending approval a person can decide with `claudescale approve`."
    )


class PreviewOut(VerdictOut):
    risk: str | None = Field(description="low, medium, high or critical; null when refused.")
    proposal_id: str | None = Field(
        description="Give it to apply_scaling to ask the user; null when the gate refuses."
    )
    expires_at: str | None = Field(description="When the proposal_id expires, ISO 8601 UTC.")


class ProposalOut(_Out):
    proposal_id: str
    workload: str
    from_replicas: int
    to_replicas: int
    reason: str
    risk: str
    expires_at: str


class ApprovalOut(_Out):
    approval_id: str
    workload: str
    from_replicas: int
    to_replicas: int
    source: str
    status: str
    expires_at: str


class ProposalsOut(_Out):
    proposals: list[ProposalOut] = Field(description="Open previews from propose_scaling.")
    approvals: list[ApprovalOut] = Field(description="Changes waiting for or given a person's OK.")


class SnapshotOut(_Out):
    snapshot_id: str
    workload: str
    replicas: int
    taken_at: str
    before_change: str = Field(description="The change it preceded, e.g. '3→4 by rules'.")


class SnapshotsOut(_Out):
    snapshots: list[SnapshotOut]


class AuditOut(_Out):
    records: list[dict[str, Any]] = Field(description="Newest last.")


class ReconcileOut(_Out):
    requested: bool
    message: str


def iso(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="seconds")


def ok(model: _Out) -> CallToolResult:
    """A successful result: the model as structured content, and as JSON text for clients
    that read only text."""
    return CallToolResult(
        content=[TextContent(type="text", text=model.model_dump_json())],
        structured_content=model.model_dump(mode="json"),
    )


def error(code: Code, message: str) -> CallToolResult:
    """An error the model can fix: ``isError`` with the gate's sentence."""
    return CallToolResult(
        content=[TextContent(type="text", text=message)],
        structured_content={"code": code.value, "message": message},
        is_error=True,
    )


def verdict_out(workload: str, verdict: Verdict) -> VerdictOut:
    return VerdictOut(
        workload=workload,
        outcome=verdict.outcome.value,
        code=verdict.code.value,
        message=verdict.message,
        from_replicas=verdict.from_replicas,
        to_replicas=verdict.to_replicas,
        approval_id=verdict.approval_id or None,
    )
