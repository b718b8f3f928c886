"""Audit retention: rotated segments kept by age and by size.

Layer: orchestration support (local files). Deletes whole rotated segments only, oldest
first, never the newest segment, never one whose successor has no record yet (its first
record's ``prev`` is the new start of the chain) and never one holding or following the
checkpoint's record. Before a segment goes, the start anchor (``<log>.anchor``) is rewritten
to the seq and ``prev`` hash of the first record kept, so ``verify`` starts the chain there; a
crash in between leaves a whole segment before the anchor, which ``verify`` skips and the next
pass deletes. The log writer calls this only while its chain is trusted.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from claudescale.audit.checkpoint import Anchor, read_start, start_anchor_path, write_anchor
from claudescale.audit.files import sync_directory
from claudescale.audit.format import Segment, list_segments
from claudescale.audit.tail import byte_at, line_ending_at

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Retention:
    """How long and how much of the rotated log to keep; 0 means no limit."""

    max_age_s: float = 0.0
    max_bytes: int = 0

    @classmethod
    def of(cls, retain_days: float, retain_bytes: int) -> Retention:
        return cls(retain_days * DAY_S, retain_bytes)

    @property
    def active(self) -> bool:
        return self.max_age_s > 0 or self.max_bytes > 0


NO_RETENTION = Retention()


def apply_retention(
    path: Path,
    retention: Retention,
    *,
    wall_now: float,
    checkpoint_seq: int,
    fsync: Callable[[int], None] = os.fsync,
) -> list[str]:
    """Delete what ``retention`` no longer keeps; returns the deleted files' names."""
    if not retention.active:
        return []
    segments = list_segments(path)
    start = read_start(path)
    total = sum(_size(s) for s in segments)
    deleted: list[str] = []
    for segment, successor in itertools.pairwise(segments):
        if segment.number is None:
            break
        first = first_record(successor)
        if first is None or first.seq - 1 >= checkpoint_seq:
            break
        leftover = first.seq <= start.seq  # a crash came after the anchor moved past it
        if not leftover and not _expired(segment, retention, wall_now, total):
            break
        if not leftover:
            write_anchor(start_anchor_path(path), first, fsync)
            start = first
        total -= _size(segment)
        segment.path.unlink()
        deleted.append(segment.path.name)
    if deleted:
        sync_directory(path.parent, fsync)
    return deleted


def first_record(segment: Segment) -> Anchor | None:
    """The seq and ``prev`` hash of the segment's first record; None when it has none."""
    try:
        with segment.path.open("rb") as stream:
            line = stream.readline()
    except FileNotFoundError:
        return None
    try:
        record = orjson.loads(line) if line.endswith(b"\n") else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    seq, prev = record.get("seq"), record.get("prev")
    if type(seq) is not int or not isinstance(prev, str):
        return None
    return Anchor(seq, prev)


def _expired(segment: Segment, retention: Retention, wall_now: float, total: int) -> bool:
    if retention.max_bytes > 0 and total > retention.max_bytes:
        return True
    if retention.max_age_s <= 0:
        return False
    newest = _last_ts(segment)
    return newest is not None and wall_now - newest > retention.max_age_s


def _last_ts(segment: Segment) -> float | None:
    with segment.path.open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0 or byte_at(stream, size - 1) != b"\n":
            return None
        line = line_ending_at(stream, size - 1)
    try:
        ts = orjson.loads(line).get("ts")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return float(ts) if isinstance(ts, int | float) else None


def _size(segment: Segment) -> int:
    try:
        return segment.path.stat().st_size
    except FileNotFoundError:
        return 0
