"""The audit log's line format and its segment files.

Layer: orchestration support (local files). Owns how one record becomes one line, how a line
is checked against its own hash and the previous one, and how segment files are named and
listed. It reads directory listings only; it never writes.

One record is one line of JSON, ``{"seq": n, "prev": ..., "ts": ..., "mono": ..., "epoch": ...,
"kind": ..., <fields>, "hash": "<hex>"}``. ``hash`` is always the last key: it is the SHA-256 of
the line's exact bytes with ``,"hash":"<hex>"`` cut out (that is, of the serialised record before
the hash was added), so no canonical re-serialisation is ever needed. ``prev`` is the previous
record's ``hash`` (64 zeros for the first record). A changed line fails its own hash; a deleted,
inserted or moved line breaks the ``seq`` run or the ``prev`` link.

Segments: ``<path>`` is always the newest; rotated ones are ``<path>.000001``, ``<path>.000002``,
... (oldest lowest). The chain runs across them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ZERO_HASH = "0" * 64
"""The ``prev`` of the very first record."""

ENVELOPE_KEYS = frozenset({"seq", "prev", "ts", "mono", "epoch", "kind", "hash"})
"""Keys every record carries; a record's own fields may not use them."""

_HASH_PREFIX = b',"hash":"'
_HASH_SUFFIX_LEN = len(_HASH_PREFIX) + 64 + len(b'"}')
_HEX = frozenset(b"0123456789abcdef")


def encode_record(record: Mapping[str, Any]) -> tuple[bytes, str]:
    """Serialise a record (without ``hash``) into one line ending in a newline; returns the
    line and its hash. Raises orjson.JSONEncodeError (a TypeError) for values JSON cannot hold.
    Non-finite floats become ``null``: callers that must keep NaN apart from 'no data' should
    record them as strings."""
    body = orjson.dumps(record)
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + _HASH_PREFIX + digest.encode("ascii") + b'"}\n', digest


@dataclass(frozen=True, slots=True)
class LineProblem:
    """Why one line does not belong where it is. ``seq`` is the line's own seq when readable."""

    seq: int | None
    text: str


@dataclass(frozen=True, slots=True)
class CheckedLine:
    """A line that parsed, with its claimed hash and whether it continues the chain."""

    record: dict[str, Any]
    seq: int
    digest: str
    problem: LineProblem | None


def own_hash(line: bytes) -> tuple[str, bool] | None:
    """The hash a line claims and whether its content matches it; None if it has none."""
    suffix = line[-_HASH_SUFFIX_LEN:]
    if len(line) <= _HASH_SUFFIX_LEN or not suffix.startswith(_HASH_PREFIX):
        return None
    claimed = suffix[len(_HASH_PREFIX) : -2]
    if not suffix.endswith(b'"}') or not _HEX.issuperset(claimed):
        return None
    body = line[:-_HASH_SUFFIX_LEN] + b"}"
    return claimed.decode("ascii"), hashlib.sha256(body).hexdigest() == claimed.decode("ascii")


def parse_line(line: bytes) -> CheckedLine | LineProblem:
    """Parse one line (without its newline) and check it against its own hash only."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return LineProblem(None, "the line is not valid JSON")
    if not isinstance(record, dict):
        return LineProblem(None, "the line is not a JSON object")
    seq = record.get("seq")
    if type(seq) is not int or seq < 0:
        return LineProblem(None, "the record has no valid seq")
    claimed = own_hash(line)
    if claimed is None:
        return LineProblem(seq, "the record does not end with its hash")
    digest, matches = claimed
    if not matches:
        return LineProblem(seq, "the record was changed; its hash does not match its content")
    return CheckedLine(record, seq, digest, None)


class ChainChecker:
    """Checks lines in order: own hash, then seq run, then prev link. Constant memory.

    After a problem it re-synchronises on the line it was given (when that line is readable),
    so a reader that wants to go on after the first problem can.
    """

    def __init__(self, start_seq: int = 0, start_prev: str = ZERO_HASH) -> None:
        """``start_seq`` and ``start_prev``: where the kept chain starts (seq 0 and the zero
        hash unless retention deleted older segments)."""
        self.expected_seq = start_seq
        self.start_seq = start_seq
        self.prev_hash = start_prev
        self.records = 0

    def check(self, line: bytes) -> CheckedLine | LineProblem:
        parsed = parse_line(line)
        if isinstance(parsed, LineProblem):
            if parsed.seq is not None:
                self._resync(parsed.seq, None)
            return parsed
        self.records += 1
        problem = self._link(parsed)
        self._resync(parsed.seq, parsed.digest)
        if problem is None:
            return parsed
        return CheckedLine(parsed.record, parsed.seq, parsed.digest, problem)

    def _link(self, line: CheckedLine) -> LineProblem | None:
        expected = self.expected_seq
        if line.seq > expected:
            missing = _seq_range(expected, line.seq - 1)
            if self.records == 1 and expected == self.start_seq:
                return LineProblem(line.seq, f"the log starts at seq {line.seq}; {missing} missing")
            return LineProblem(
                line.seq, f"expected seq {expected} here; {missing} missing (deleted or moved)"
            )
        if line.seq < expected:
            return LineProblem(
                line.seq,
                f"expected seq {expected} here; the record is out of order (moved or duplicated)",
            )
        if line.record.get("prev") != self.prev_hash:
            return LineProblem(
                line.seq,
                "the record before it was changed or replaced; its prev hash does not match",
            )
        return None

    def _resync(self, seq: int, digest: str | None) -> None:
        self.expected_seq = seq + 1
        self.prev_hash = digest if digest is not None else "unknown"


def _seq_range(first: int, last: int) -> str:
    return f"seq {first} is" if first == last else f"seqs {first} to {last} are"


@dataclass(frozen=True, slots=True)
class Segment:
    """One file of the log. ``number`` is None for the newest (the one being written)."""

    path: Path
    number: int | None


def rotated_path(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number:06d}")


def list_segments(path: Path) -> list[Segment]:
    """The log's files, oldest first; the newest (``path`` itself) last when it exists."""
    pattern = re.compile(re.escape(path.name) + r"\.([0-9]+)")
    directory = path.parent
    rotated: list[Segment] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                match = pattern.fullmatch(entry.name)
                if match is not None and entry.is_file():
                    rotated.append(Segment(directory / entry.name, int(match.group(1))))
    except FileNotFoundError:
        return []
    rotated.sort(key=lambda segment: segment.number or 0)
    if path.is_file():
        rotated.append(Segment(path, None))
    return rotated


def read_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """Stream a file's lines as (line number from 1, bytes without newline, ended by a
    newline). Only the last line of a file can be unended."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if raw.endswith(b"\n"):
                yield number, raw[:-1], True
            else:
                yield number, raw, False
