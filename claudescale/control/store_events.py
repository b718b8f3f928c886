"""Copying what happened to approvals and overrides (stored as events in their state files)
into the audit log, at least once and in order.

Layer: orchestration support (local files and the ``AuditSink`` port). Only the process that
holds the audit log calls it (the service, or a one-shot CLI command); decisions taken in
another process wait in the state file until then, and are always copied before the change
they allow is carried out. Record kinds: ``approval_<event>`` (requested, granted, rejected,
refused, used, expired, failed), ``override_<event>`` (started, ended, expired) and whatever a
``note`` names (``approval_refused`` for an unknown ID, ``rollback`` for an idempotent one).
"""

from __future__ import annotations

from typing import Any

from claudescale.control.state_file import Json, LockedDocument, unaudited_events
from claudescale.core.values import Source
from claudescale.ports import AuditSink

HUMAN_PREFIXES = {"cli:": Source.CLI.value, "mcp:": Source.MCP_CLIENT.value}
"""Actors whose name says where they acted from."""


def copy_events(document: LockedDocument, key: str, audit: AuditSink) -> int:
    """Append every event of ``document[key]`` records (and the document's own notes) not yet
    audited, marking each as audited in the same transaction; returns how many. A crash
    between the two copies an event again rather than losing it."""
    if not document.path.exists():
        return 0
    copied = 0
    with document.transaction() as doc:
        records: list[Json] = [*doc.get(key, []), doc]
        for record, event in unaudited_events(records):
            kind, fields = _event_record(key, record, event)
            audit.append(kind, fields, durable=True)
            event["audited"] = True
            copied += 1
    return copied


def _event_record(key: str, record: Json, event: Json) -> tuple[str, dict[str, Any]]:
    name = str(event["event"])
    if name == "note":
        hidden = ("event", "audited", "kind")
        return str(event["kind"]), {k: v for k, v in event.items() if k not in hidden}
    extra = {k: v for k, v in event.items() if k not in ("event", "audited", "at", "id")}
    actor = str(event.get("actor") or "")
    if key == "overrides":
        fields = {
            "override_id": record.get("id"),
            "workload": record.get("workload"),
            "changes": record.get("changes"),
            "why": record.get("why"),
            "expires_at": record.get("expires_at"),
            "at": event.get("at"),
            **extra,
            "actor": actor or record.get("who"),
            "source": HUMAN_PREFIXES.get(actor[:4], Source.CLI.value),
        }
        return f"override_{name}", fields
    source = HUMAN_PREFIXES.get(actor[:4], str(record.get("source", "")))
    fields = {
        "approval_id": record.get("id"),
        "workload": record.get("workload"),
        "from": record.get("from"),
        "to": record.get("to"),
        "change_sha256": record.get("change_sha256"),
        "at": event.get("at"),
        **extra,
        "actor": actor or str(record.get("actor", "")),
        "source": source,
    }
    if name == "requested":
        for extra_key in ("uid", "resource_version", "risk", "risk_reasons", "reason"):
            fields[extra_key] = record.get(extra_key)
        fields.update(
            expires_at=record.get("expires_at"),
            ttl_s=record.get("ttl_s"),
            proposal_id=record.get("proposal_id"),
            rollback_of=record.get("rollback_of"),
        )
    return f"approval_{name}", fields
