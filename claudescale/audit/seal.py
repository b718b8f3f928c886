"""Sealing a damaged audit log: the operator's way to close a broken chain and start a new,
verified one.

Layer: orchestration support (local files). Under the log's writer lock (so never while a
service writes it), every file of the old chain and its anchors are renamed aside to
``<name>.sealed-<UTC time>`` (kept, never deleted), and a new chain starts whose first record,
``sealed``, names the operator, the files set aside, the old chain's last good seq and hash and
what was wrong. Recovery then trusts the new chain but holds every workload for a full cooldown
from the seal; the durable stops beside the log still apply.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from claudescale.audit.checkpoint import (
    AnchorUnreadable,
    checkpoint_path,
    read_anchor,
    start_anchor_path,
)
from claudescale.audit.files import lock_log
from claudescale.audit.format import list_segments
from claudescale.audit.log import AuditLog
from claudescale.audit.state import state_path
from claudescale.audit.verify import verify
from claudescale.errors import AuditError
from claudescale.ports import Clock


@dataclass(frozen=True, slots=True)
class Sealed:
    seq: int
    """The seq of the ``sealed`` record in the new chain."""
    moved: tuple[str, ...]
    """The old files, by their new names."""
    last_good_seq: int | None
    last_good_hash: str | None
    problem: str


def seal(
    path: Path,
    rotate_bytes: int,
    clock: Clock,
    actor: str,
    *,
    fsync: Callable[[int], None] = os.fsync,
) -> Sealed:
    """Close the chain at ``path`` and start a new one. Raises AuditError when the log
    verifies (there is nothing to seal) or another process holds it."""
    lock_fd = lock_log(path)
    try:
        result = verify(path)
        if result.ok:
            raise AuditError(f"The audit log {path} verifies; there is nothing to seal.")
        try:
            checkpoint = read_anchor(checkpoint_path(path))
        except AnchorUnreadable:
            checkpoint = None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock.wall()))
        moved = _move_aside(path, stamp, fsync)
        with AuditLog(path, rotate_bytes, clock, fsync=fsync) as log:
            seq = log.append(
                "sealed",
                {
                    "actor": actor,
                    "sealed_files": list(moved),
                    "last_good_seq": result.last_seq,
                    "last_good_hash": result.last_hash,
                    "checkpoint_seq": None if checkpoint is None else checkpoint.seq,
                    "checkpoint_hash": None if checkpoint is None else checkpoint.hash,
                    "problem": result.message,
                    "message": f"{actor} sealed the damaged audit log and started a new chain; "
                    "every workload is held for a full cooldown from now.",
                },
                durable=True,
            )
    finally:
        os.close(lock_fd)
    return Sealed(seq, moved, result.last_seq, result.last_hash, result.message)


def _move_aside(path: Path, stamp: str, fsync: Callable[[int], None]) -> tuple[str, ...]:
    files = [segment.path for segment in list_segments(path)]
    anchors = (checkpoint_path(path), start_anchor_path(path), state_path(path))
    files += [p for p in anchors if p.exists()]
    moved = []
    for old in files:
        new = old.with_name(f"{old.name}.sealed-{stamp}")
        if new.exists():
            raise AuditError(f"Cannot seal the audit log: {new.name} already exists.")
        os.replace(old, new)
        moved.append(new.name)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(directory)
    finally:
        os.close(directory)
    return tuple(moved)
