"""What the executor may rebuild its memory from after a restart: the one recovery path used
by the service, the one-shot CLI commands and replay.

Layer: orchestration support (local files only). Call it after opening the ``AuditLog``
(which cuts a torn tail first), so that a crash's half-written line does not make the whole
log untrusted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.audit.reader import iter_records
from claudescale.audit.verify import verify


@dataclass(frozen=True, slots=True)
class Recovery:
    records: Iterator[dict[str, Any]] | None
    """The log's records, streamed, when the whole chain verifies; None when nothing can be
    trusted (then the executor assumes every workload acted at start-up)."""
    problem: str | None = None
    """Why nothing can be trusted, as a sentence; None when the records are trusted."""


def recovery_records(path: Path) -> Recovery:
    """The audit records to recover from, or why there are none worth trusting.

    An empty log (a fresh install, or one deleted) holds no history, and a deleted log cannot
    be told from a new one: both count as 'cannot recover', which only delays scale-downs."""
    result = verify(path)
    if not result.ok:
        return Recovery(None, f"The audit log {path} cannot be trusted: {result.message}")
    if result.records == 0:
        return Recovery(None, f"The audit log {path} holds no history.")
    return Recovery(iter_records(path))
