"""What the executor may rebuild its memory from after a restart: the one recovery path used
by the service, the one-shot CLI commands, replay and the test harness.

Layer: orchestration support (local files only). Call ``recover_from`` after opening the
``AuditLog`` (which cuts a torn tail first), so that a crash's half-written line does not make
the whole log untrusted; it also tells the open log to keep its old checkpoint when the log is
damaged, so the damage is found again by every restart until an operator seals the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.audit.checkpoint import checkpoint_path
from claudescale.audit.log import AuditLog
from claudescale.audit.reader import iter_records
from claudescale.audit.verify import verify


@dataclass(frozen=True, slots=True)
class Recovery:
    records: Iterator[dict[str, Any]] | None
    """The log's records, streamed, when the whole chain verifies; None when nothing can be
    trusted (then the executor assumes every workload acted at start-up)."""
    problem: str | None = None
    """Why nothing can be trusted, as a sentence; None when the records are trusted."""
    damage: str | None = None
    """Set (to the same sentence) when the log is damaged, cut or missing while its checkpoint
    says it existed, rather than merely new: then every cooldown, the hourly rate limit and
    every stop is assumed active from start-up until a full cooldown has passed."""


def recovery_records(path: Path) -> Recovery:
    """The audit records to recover from, or why there are none worth trusting.

    An empty log with no checkpoint (a fresh install) holds no history, which only delays
    scale-downs; a log that does not verify, or whose end does not match its checkpoint, is
    damage."""
    if not path.exists() and not checkpoint_path(path).exists():
        return Recovery(None, f"The audit log {path} holds no history.")
    result = verify(path)
    if not result.ok:
        problem = f"The audit log {path} cannot be trusted: {result.message}"
        return Recovery(None, problem, damage=problem)
    if result.records == 0:
        return Recovery(None, f"The audit log {path} holds no history.")
    return Recovery(iter_records(path))


def recover_from(audit: AuditLog) -> Recovery:
    """``recovery_records`` for an open log; a damaged log keeps its old checkpoint."""
    recovery = recovery_records(audit.path)
    if recovery.damage is None and audit.anchor_problem is not None:
        problem = f"The audit log {audit.path} cannot be trusted: {audit.anchor_problem}"
        recovery = Recovery(None, problem, damage=problem)
    if recovery.damage is not None:
        audit.distrust(recovery.damage)
    return recovery
