"""Reading back what the executor must remember after a restart, in one streamed pass.

Layer: orchestration support (local files). Generic: it returns records as dicts, grouped by
workload, and whether the chain verified; the executor decides what they mean (cooldowns,
external changes, the external-controller flag). It never writes.

Memory is bounded by workloads x kinds x ``keep_per_kind``, not by the log's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudescale.audit.verify import ChainScan

RECOVERY_KINDS = frozenset(
    {"external_change", "reversion", "external_controller_set", "external_controller_cleared"}
)
"""Kinds kept for every workload, besides ``outcome`` with code ``ok`` and unmatched intents."""


@dataclass(frozen=True, slots=True)
class RecoveryScan:
    """What one pass over the log found."""

    by_workload: Mapping[str, tuple[dict[str, Any], ...]]
    """Per ``"ns/name"``: kept records in log order (executed outcomes, external changes,
    reversions, external-controller set/cleared, and intents that never got an outcome)."""
    verified: bool
    """The whole chain verified. When False, ``by_workload`` holds what was readable."""
    problem: str | None = None
    """The first problem, as ``verify`` words it."""
    last_epoch: str | None = None
    """The ``epoch`` of the newest readable record: ``mono`` values from another epoch are
    not comparable with this boot's monotonic clock."""
    last_seq: int | None = None
    records: int = 0
    unmatched_intents: tuple[dict[str, Any], ...] = field(default=())
    """Intents without an outcome, oldest first (also inside ``by_workload``)."""


def read_for_recovery(path: Path, *, keep_per_kind: int = 1000) -> RecoveryScan:
    """Stream the log once; keep, per workload and kind, the newest ``keep_per_kind`` records
    the executor needs. Open the ``AuditLog`` first, so that a torn last line has already been
    moved aside and does not make the chain look broken. A missing log is an empty, verified
    scan only when no file exists at all."""
    scan = ChainScan(path)
    kept: dict[tuple[str, str], deque[dict[str, Any]]] = {}
    pending: dict[str, dict[str, Any]] = {}
    problem: str | None = None
    last: dict[str, Any] | None = None
    records = 0
    for scanned in scan:
        if scanned.problem is not None and problem is None:
            problem = scanned.problem
        record = scanned.record
        if record is None:
            continue
        records += 1
        last = record
        kind = record.get("kind")
        intent_id = record.get("intent_id")
        if kind == "intent" and isinstance(intent_id, str):
            pending[intent_id] = record
        elif kind == "outcome" and isinstance(intent_id, str):
            pending.pop(intent_id, None)
        workload = record.get("workload")
        if not isinstance(workload, str) or not isinstance(kind, str):
            continue
        if kind in RECOVERY_KINDS or (kind == "outcome" and record.get("code") == "ok"):
            kept.setdefault((workload, kind), deque(maxlen=keep_per_kind)).append(record)
    unmatched = tuple(pending.values())
    grouped: dict[str, list[dict[str, Any]]] = {}
    for (workload, _), records_of_kind in kept.items():
        grouped.setdefault(workload, []).extend(records_of_kind)
    for record in unmatched:
        workload = record.get("workload")
        if isinstance(workload, str):
            grouped.setdefault(workload, []).append(record)
    return RecoveryScan(
        by_workload={w: tuple(sorted(rs, key=_seq)) for w, rs in grouped.items()},
        verified=problem is None,
        problem=problem,
        last_epoch=_epoch(last),
        last_seq=_seq(last) if last is not None else None,
        records=records,
        unmatched_intents=unmatched,
    )


def _seq(record: Mapping[str, Any]) -> int:
    seq = record.get("seq")
    return seq if type(seq) is int else -1


def _epoch(record: Mapping[str, Any] | None) -> str | None:
    epoch = record.get("epoch") if record is not None else None
    return epoch if isinstance(epoch, str) else None
