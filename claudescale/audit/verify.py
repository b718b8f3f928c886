"""Verifying the audit log's hash chain, streamed, and saying where it breaks.

Layer: orchestration support (local files). Reads every line once in constant memory; never
writes. Finds changed lines (own hash), deleted, inserted, duplicated and moved lines (seq run
and prev link, also across rotated segments), missing segments, unreadable lines and a cut-off
last line. Removing the newest records at a line boundary leaves a valid shorter chain, and
so does recomputing every hash; the checkpoint kept beside the log (``claudescale.audit.
checkpoint``) shows both: the log must reach the checkpoint's seq with the checkpoint's hash.
A chain whose oldest segments retention deleted starts at the start anchor's seq and hash.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.audit.checkpoint import (
    START,
    Anchor,
    AnchorUnreadable,
    checkpoint_path,
    read_anchor,
    read_start,
)
from claudescale.audit.format import (
    ChainChecker,
    LineProblem,
    Segment,
    parse_line,
    read_lines,
    rotated_path,
)
from claudescale.audit.reader import walk_segments
from claudescale.audit.tail import byte_at, line_ending_at


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The answer of ``verify``: ``ok``, or where the first problem is and what it is."""

    ok: bool
    records: int
    """Records that verified (all of them when ``ok``; those before the problem otherwise)."""
    files: int
    message: str
    segment: str | None = None
    """File name of the first problem."""
    line: int | None = None
    """Line number (from 1) of the first problem in ``segment``."""
    first_bad_seq: int | None = None
    """Seq of the first bad record, or the seq expected there when the line is unreadable."""
    last_seq: int | None = None
    """Seq of the last good record; with ``last_hash``, an anchor to keep elsewhere."""
    last_hash: str | None = None


@dataclass(frozen=True, slots=True)
class ScannedLine:
    """One line as the chain scan saw it: its record (if readable) and its problem (if any)."""

    segment: str
    line: int
    record: dict[str, Any] | None
    problem: str | None
    seq: int
    """The record's seq, or the seq expected there when the line is unreadable."""


class ChainScan:
    """Iterating yields every line of the log with its chain check; ``files`` counts the
    segments seen. Keeps going after problems (re-synchronising), so recovery can use what
    is readable; ``verify`` stops at the first one."""

    def __init__(self, path: Path, start: Anchor = START) -> None:
        self.path = path
        self.files = 0
        self.start = start
        self.checker = ChainChecker(start.seq, start.hash)

    def __iter__(self) -> Iterator[ScannedLine]:
        # Retention deletes the oldest segments: then the chain may start at any number.
        last_number: int | None = 0 if self.start.seq == 0 else None
        for segment in walk_segments(self.path):
            if self.checker.records == 0 and _before(segment, self.start.seq):
                last_number = segment.number  # left over by a retention pass cut short
                continue
            self.files += 1
            missing = ""
            if segment.number is not None:
                if last_number is not None:
                    missing = _missing_segments(self.path, last_number, segment.number)
                last_number = segment.number
            yield from self._scan_segment(segment, missing)

    def _scan_segment(self, segment: Segment, missing: str) -> Iterator[ScannedLine]:
        name = segment.path.name
        try:
            for line_no, line, complete in read_lines(segment.path):
                expected = self.checker.expected_seq
                if not complete:
                    text = f"the line is cut off ({len(line)} bytes without a newline)"
                    yield _problem_line(name, line_no, None, LineProblem(None, text), expected)
                    continue
                checked = self.checker.check(line)
                if isinstance(checked, LineProblem):
                    yield _problem_line(name, line_no, None, checked, expected, missing)
                elif checked.problem is not None:
                    problem = checked.problem
                    yield _problem_line(name, line_no, checked.record, problem, expected, missing)
                else:
                    yield ScannedLine(name, line_no, checked.record, None, checked.seq)
                missing = ""
        except FileNotFoundError:
            text = "the file disappeared while it was being read"
            yield _problem_line(name, 0, None, LineProblem(None, text), self.checker.expected_seq)


def verify(path: Path) -> VerifyResult:
    """Check the whole chain of the log at ``path`` (all segments), in constant memory, from
    its start anchor to (at least) its checkpoint."""
    try:
        start = read_start(path)
        checkpoint = read_anchor(checkpoint_path(path))
    except AnchorUnreadable as exc:
        return VerifyResult(False, 0, 0, f"Audit log {path.name}: the anchor file {exc}.")
    scan = ChainScan(path, start)
    good = 0
    last_seq: int | None = None
    last_hash: str | None = None
    at_checkpoint: str | None = None
    for scanned in scan:
        if scanned.problem is not None:
            return VerifyResult(
                ok=False,
                records=good,
                files=scan.files,
                message=scanned.problem,
                segment=scanned.segment,
                line=scanned.line,
                first_bad_seq=scanned.seq,
                last_seq=last_seq,
                last_hash=last_hash,
            )
        assert scanned.record is not None
        good += 1
        last_seq, last_hash = scanned.seq, str(scanned.record["hash"])
        if checkpoint is not None and scanned.seq == checkpoint.seq:
            at_checkpoint = last_hash
    if scan.files == 0 and checkpoint is None:
        return VerifyResult(False, 0, 0, f"Audit log {path}: there is no such file.")
    problem = end_problem(path, scan.files, last_seq, at_checkpoint, checkpoint)
    if problem is not None:
        return VerifyResult(
            ok=False,
            records=good,
            files=scan.files,
            message=problem,
            segment=path.name,
            first_bad_seq=None if last_seq is None else last_seq + 1,
            last_seq=last_seq,
            last_hash=last_hash,
        )
    files = f"{scan.files} file" + ("" if scan.files == 1 else "s")
    records = f"{good} record" + ("" if good == 1 else "s")
    return VerifyResult(
        ok=True,
        records=good,
        files=scan.files,
        message=f"Audit log OK: {records} in {files}.",
        last_seq=last_seq,
        last_hash=last_hash,
    )


def end_problem(
    path: Path,
    files: int,
    last_seq: int | None,
    at_checkpoint: str | None,
    checkpoint: Anchor | None,
) -> str | None:
    """Why the log's end does not match its checkpoint, as a sentence; None when it does."""
    name = path.name
    if checkpoint is None:
        if last_seq is None:
            return None
        return (
            f"Audit log {name}: its checkpoint {checkpoint_path(path).name} is missing, so "
            "records cut from the end cannot be ruled out; run `claudescale audit seal` to "
            "anchor the log again."
        )
    if files == 0:
        return (
            f"Audit log {path}: the log is missing, but its checkpoint says it held records up "
            f"to seq {checkpoint.seq}; it was deleted or moved."
        )
    if last_seq is None or last_seq < checkpoint.seq:
        first = 0 if last_seq is None else last_seq + 1
        ends = "holds no records" if last_seq is None else f"ends at seq {last_seq}"
        cut = (
            f"seq {first} was"
            if first == checkpoint.seq
            else f"seqs {first} to {checkpoint.seq} were"
        )
        return (
            f"Audit log {name}: the log {ends} but its checkpoint holds seq {checkpoint.seq}; "
            f"{cut} cut from its end."
        )
    if at_checkpoint != checkpoint.hash:
        return (
            f"Audit log {name}: record seq {checkpoint.seq} does not have the hash its "
            "checkpoint holds; the chain was rewritten (recomputed with other or fewer records)."
        )
    return None


def _problem_line(
    segment: str,
    line_no: int,
    record: dict[str, Any] | None,
    problem: LineProblem,
    expected_seq: int,
    missing: str = "",
) -> ScannedLine:
    where = f"seq {problem.seq}" if problem.seq is not None else f"expected seq {expected_seq}"
    line_part = f" line {line_no}" if line_no else ""
    text = f"Audit log {segment}{line_part} ({where}): {problem.text}"
    if missing and line_no == 1:
        text += f"; {missing}"
    seq = problem.seq if problem.seq is not None else expected_seq
    return ScannedLine(segment, line_no, record, text + ".", seq)


def _missing_segments(path: Path, last_number: int, number: int) -> str:
    if number == last_number + 1:
        return ""
    first = rotated_path(path, last_number + 1).name
    if number == last_number + 2:
        return f"the file {first} is missing"
    last = rotated_path(path, number - 1).name
    return f"the files {first} to {last} are missing"


def _before(segment: Segment, seq: int) -> bool:
    """A rotated segment whose last record comes before ``seq`` (the start anchor's)."""
    if segment.number is None or seq == 0:
        return False
    with segment.path.open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0 or byte_at(stream, size - 1) != b"\n":
            return False
        parsed = parse_line(line_ending_at(stream, size - 1))
    return not isinstance(parsed, LineProblem) and parsed.seq < seq
