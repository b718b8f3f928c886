"""Verifying the audit log's hash chain, streamed, and saying where it breaks.

Layer: orchestration support (local files). Reads every line once in constant memory; never
writes. Finds changed lines (own hash), deleted, inserted, duplicated and moved lines (seq run
and prev link, also across rotated segments), missing segments, unreadable lines and a cut-off
last line. Removing the newest records at a line boundary leaves a valid shorter chain; only
an anchor kept elsewhere (``VerifyResult.last_seq`` and ``last_hash``) can show that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.audit.format import ChainChecker, LineProblem, Segment, read_lines, rotated_path
from claudescale.audit.reader import walk_segments


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

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = 0
        self.checker = ChainChecker()

    def __iter__(self) -> Iterator[ScannedLine]:
        last_number = 0
        for segment in walk_segments(self.path):
            self.files += 1
            missing = ""
            if segment.number is not None:
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
    """Check the whole chain of the log at ``path`` (all segments), in constant memory."""
    scan = ChainScan(path)
    good = 0
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
                last_seq=good - 1 if good else None,
            )
        good += 1
    if scan.files == 0:
        return VerifyResult(False, 0, 0, f"Audit log {path}: there is no such file.")
    files = f"{scan.files} file" + ("" if scan.files == 1 else "s")
    records = f"{good} record" + ("" if good == 1 else "s")
    return VerifyResult(
        ok=True,
        records=good,
        files=scan.files,
        message=f"Audit log OK: {records} in {files}.",
        last_seq=good - 1 if good else None,
        last_hash=scan.checker.prev_hash if good else None,
    )


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
