"""Approval values: an approval's status, the read-only view of one, the answer to a
decision, and the hashes an approval is bound to.

Layer: control (pure values; ``claudescale.control.approvals`` stores them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

import orjson

from claudescale.control.state_file import Json
from claudescale.core.values import Code


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    USED = "used"
    EXPIRED = "expired"
    FAILED = "failed"
    """Closed without a write: the change no longer matched, or the guardrails refused it."""


OPEN = frozenset({Status.PENDING, Status.APPROVED})


def change_sha256(
    namespace: str, name: str, uid: str, from_replicas: int, to_replicas: int, rv: str
) -> str:
    """The hash an approval is bound to: exactly this change of exactly this object version."""
    body = orjson.dumps([namespace, name, uid, from_replicas, to_replicas, rv])
    return hashlib.sha256(body).hexdigest()


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Approval:
    """A read-only view of one stored approval."""

    id: str
    workload: str
    from_replicas: int
    to_replicas: int
    uid: str
    resource_version: str
    change_sha256: str
    action: str
    reason: str
    source: str
    actor: str
    """Who proposed the change."""
    status: Status
    created_at: float
    expires_at: float
    risk: str = ""
    risk_reasons: tuple[str, ...] = ()
    proposal_id: str = ""
    rollback_of: str = ""
    decided_by: str = ""
    decision_reason: str = ""

    @classmethod
    def from_record(cls, record: Json) -> Approval:
        return cls(
            id=str(record["id"]),
            workload=str(record["workload"]),
            from_replicas=int(record["from"]),
            to_replicas=int(record["to"]),
            uid=str(record["uid"]),
            resource_version=str(record["resource_version"]),
            change_sha256=str(record["change_sha256"]),
            action=str(record["action"]),
            reason=str(record["reason"]),
            source=str(record["source"]),
            actor=str(record["actor"]),
            status=Status(record["status"]),
            created_at=float(record["created_at"]),
            expires_at=float(record["expires_at"]),
            risk=str(record.get("risk", "")),
            risk_reasons=tuple(record.get("risk_reasons", ())),
            proposal_id=str(record.get("proposal_id", "")),
            rollback_of=str(record.get("rollback_of", "")),
            decided_by=str(record.get("decided_by", "")),
            decision_reason=str(record.get("decision_reason", "")),
        )

    @property
    def change(self) -> str:
        return f"{self.workload} {self.from_replicas}→{self.to_replicas}"


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to approve / reject / check / consume: ``code`` is ``ok`` or why not."""

    code: Code
    message: str
    approval: Approval | None = None

    @property
    def ok(self) -> bool:
        return self.code is Code.OK
