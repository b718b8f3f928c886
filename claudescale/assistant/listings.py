"""What ``list_proposals``, ``list_snapshots``, ``get_audit_log`` and ``reconcile_now`` do.

Layer: edge (the MCP assistant). Each function takes the ``Assistant`` and the tool's
arguments and returns a ``CallToolResult``: what the service keeps (previews, approvals,
snapshots, the audit log) as structured content, or an ``isError`` result with a sentence
when a store cannot be read. None of them changes anything but ``reconcile_now``, which only
wakes the poll loop.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from mcp.types import CallToolResult

from claudescale.assistant.outputs import (
    ApprovalOut,
    AuditOut,
    ProposalOut,
    ProposalsOut,
    ReconcileOut,
    SnapshotOut,
    SnapshotsOut,
    error,
    iso,
    ok,
)
from claudescale.assistant.runtime import Assistant
from claudescale.audit import RecordFilter, select_records
from claudescale.core.values import Code
from claudescale.errors import AuditError, StateError

MAX_AUDIT_RECORDS = 500


def list_proposals(a: Assistant) -> CallToolResult:
    proposals = [
        ProposalOut(
            proposal_id=p.id,
            workload=str(p.ref),
            from_replicas=p.from_replicas,
            to_replicas=p.to_replicas,
            reason=p.reason,
            risk=p.risk.level.value,
            expires_at=iso(p.expires_at),
        )
        for p in a.book.open()
    ]
    try:
        pending = a.executor.control.approvals.list()
    except StateError as exc:
        return error(Code.WRITE_FAILED, str(exc))
    approvals = [
        ApprovalOut(
            approval_id=p.id,
            workload=p.workload,
            from_replicas=p.from_replicas,
            to_replicas=p.to_replicas,
            source=p.source,
            status=p.status.value,
            expires_at=iso(p.expires_at),
        )
        for p in pending
    ]
    return ok(ProposalsOut(proposals=proposals, approvals=approvals))


def list_snapshots(a: Assistant, namespace: str | None, name: str | None) -> CallToolResult:
    workload = f"{namespace}/{name}" if namespace and name else None
    try:
        found = [
            s
            for s in a.executor.control.snapshots.list(workload)
            if namespace is None or s.ref.namespace == namespace
        ]
    except StateError as exc:
        return error(Code.WRITE_FAILED, str(exc))
    snapshots = [
        SnapshotOut(
            snapshot_id=s.id,
            workload=s.workload,
            replicas=s.replicas,
            taken_at=iso(s.taken_at),
            before_change=f"{s.replicas}→{s.to_replicas} by {s.actor}",
        )
        for s in found[-100:]
    ]
    return ok(SnapshotsOut(snapshots=snapshots))


def get_audit_log(
    a: Assistant, namespace: str | None, name: str | None, limit: int, since_unix_s: float | None
) -> CallToolResult:
    workload = f"{namespace}/{name}" if namespace and name else None
    wanted = RecordFilter(since_ts=since_unix_s, workload=workload)
    kept: deque[dict[str, Any]] = deque(maxlen=min(limit, MAX_AUDIT_RECORDS))
    try:
        for record in select_records(a.audit_path, wanted):
            if namespace is None or str(record.get("workload", "")).startswith(f"{namespace}/"):
                kept.append(record)
    except AuditError as exc:
        return error(Code.WRITE_FAILED, f"The audit log cannot be read: {exc}")
    return ok(AuditOut(records=list(kept)))


def reconcile_now(a: Assistant) -> CallToolResult:
    a.controller.reconcile_now()
    return ok(
        ReconcileOut(
            requested=True,
            message="The poll loop starts its next cycle now, not at the end of its interval.",
        )
    )
