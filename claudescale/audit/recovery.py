"""What the executor may rebuild its memory from after a restart: the one recovery path used
by the service, the one-shot CLI commands, replay and the test harness.

Layer: orchestration support (local files only). Call ``recover_from`` after opening the
``AuditLog`` (which cuts a torn tail first), so that a crash's half-written line does not make
the whole log untrusted; it also tells the open log to keep its old checkpoint when the log is
damaged, so the damage is found again by every restart until an operator seals the log.
``recover_from(..., snapshot=True)`` may start from the snapshot of the recovered state
(``claudescale.audit.resume``) and verify only the log's tail; ``claudescale audit verify``
still checks the whole chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.audit.checkpoint import checkpoint_path
from claudescale.audit.log import AuditLog
from claudescale.audit.reader import iter_records
from claudescale.audit.resume import resume
from claudescale.audit.verify import verify
from claudescale.core.recovery_fold import Fold


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
    base: Fold | None = None
    """With ``recover_from(..., snapshot=True)``: the whole trusted log already folded (then
    ``records`` is empty); pass it on to ``CooldownMemory.recover``."""
    from_snapshot: bool = False
    """Only the log's tail after the start-up snapshot was verified and folded."""


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


def recover_from(audit: AuditLog, *, snapshot: bool = False) -> Recovery:
    """``recovery_records`` for an open log; a damaged log keeps its old checkpoint.

    With ``snapshot`` the records come folded (``Recovery.base``) and the log keeps folding
    and snapshotting what it appends; a bound snapshot (``claudescale.audit.resume``) spares
    verifying and folding all but the log's tail."""
    if snapshot and audit.anchor_problem is None:
        resumed = resume(audit.path, audit.epoch)
        if resumed is not None:
            audit.track(resumed)
            return Recovery(iter(()), base=resumed.copy(), from_snapshot=True)
    recovery = recovery_records(audit.path)
    if recovery.damage is None and audit.anchor_problem is not None:
        problem = f"The audit log {audit.path} cannot be trusted: {audit.anchor_problem}"
        recovery = Recovery(None, problem, damage=problem)
    if recovery.damage is not None:
        audit.distrust(recovery.damage)
    elif snapshot:
        fold = Fold(audit.epoch)
        for record in recovery.records or ():
            fold.add(record)
        audit.track(fold)
        if recovery.records is not None:
            recovery = Recovery(iter(()), base=fold.copy())
    return recovery
