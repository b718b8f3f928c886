"""Reading the audit log: records in order across segments, streamed, with filters.

Layer: orchestration support (local files). Generators only: nothing here holds more than one
line at a time, so ``audit list`` and ``audit export`` can walk a million records. It does not
check the hash chain (``claudescale.audit.verify`` does) and it never writes.

Field conventions the executor writes and the filters read: ``workload`` ("ns/name"),
``source`` (a ``Source`` value), ``actor`` (who acted), ``outcome``, ``code``, ``intent_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from claudescale.audit.format import Segment, list_segments, read_lines
from claudescale.errors import AuditError


def walk_segments(path: Path) -> Iterator[Segment]:
    """The log's segments, oldest first, listing the directory again before the newest one
    so that a rotation while walking does not skip the segment it produced."""
    done = 0
    while True:
        segments = list_segments(path)
        pending = [s for s in segments if s.number is not None and s.number > done]
        if pending:
            for segment in pending:
                yield segment
                done = segment.number or done
            continue
        if segments and segments[-1].number is None:
            yield segments[-1]
        return


def iter_records(path: Path, *, since_seq: int | None = None) -> Iterator[dict[str, Any]]:
    """Every record, oldest first, one line at a time; with ``since_seq`` only records whose
    seq is at least that (whole segments before it are skipped after reading one line).

    A partial last line of the newest segment (a write in progress, or cut by a crash) is not
    yielded. Raises AuditError naming the file and line for an unreadable line elsewhere.
    """
    segments = _skip_segments_before(walk_segments(path), since_seq)
    for segment, is_newest in segments:
        for line_no, line, complete in _lines(segment):
            if not complete and is_newest:
                return
            record = _load(segment, line_no, line) if complete else None
            if record is None:
                raise AuditError(
                    f"Audit log {segment.path.name} line {line_no}: the line is cut off."
                )
            if since_seq is None or record["seq"] >= since_seq:
                yield record


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records to keep. Every criterion given must hold; None means any.

    Times are the records' wall clock (``ts``, Unix seconds), which may jump, so a range is
    a filter and never a reason to stop reading early.
    """

    since_ts: float | None = None
    until_ts: float | None = None
    workload: str | None = None
    source: str | None = None
    outcome: str | None = None
    code: str | None = None
    kinds: frozenset[str] | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        ts = record.get("ts")
        if self.since_ts is not None and not (isinstance(ts, int | float) and ts >= self.since_ts):
            return False
        if self.until_ts is not None and not (isinstance(ts, int | float) and ts < self.until_ts):
            return False
        if self.kinds is not None and record.get("kind") not in self.kinds:
            return False
        wanted = (
            ("workload", self.workload),
            ("source", self.source),
            ("outcome", self.outcome),
            ("code", self.code),
        )
        return all(value is None or record.get(key) == value for key, value in wanted)


def select_records(
    path: Path, record_filter: RecordFilter, *, since_seq: int | None = None
) -> Iterator[dict[str, Any]]:
    """The records that match ``record_filter``, streamed in log order."""
    return (r for r in iter_records(path, since_seq=since_seq) if record_filter.matches(r))


def _skip_segments_before(
    segments: Iterator[Segment], since_seq: int | None
) -> Iterator[tuple[Segment, bool]]:
    """Pairs (segment, is the newest), dropping segments whose successor starts at or before
    ``since_seq`` (their records are all older)."""
    current = next(segments, None)
    while current is not None:
        following = next(segments, None)
        if since_seq is None or following is None or not _starts_at_or_before(following, since_seq):
            yield current, following is None
        current = following


def _starts_at_or_before(segment: Segment, seq: int) -> bool:
    for _, line, complete in _lines(segment):
        try:
            record = orjson.loads(line) if complete else None
        except orjson.JSONDecodeError:
            return False
        first = record.get("seq") if isinstance(record, dict) else None
        return type(first) is int and first <= seq
    return False


def _lines(segment: Segment) -> Iterator[tuple[int, bytes, bool]]:
    try:
        yield from read_lines(segment.path)
    except FileNotFoundError as exc:
        raise AuditError(
            f"Audit log {segment.path.name} disappeared while it was being read."
        ) from exc


def _load(segment: Segment, line_no: int, line: bytes) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise AuditError(
            f"Audit log {segment.path.name} line {line_no}: the line is not valid JSON."
        ) from exc
    if not isinstance(record, dict) or type(record.get("seq")) is not int:
        raise AuditError(
            f"Audit log {segment.path.name} line {line_no}: the line is not an audit record."
        )
    return record
