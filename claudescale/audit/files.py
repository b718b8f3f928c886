"""The audit log's file chores at opening: the writer lock and cutting a torn last line.

Layer: orchestration support (local files). ``lock_log`` keeps a second process from writing
the log (a POSIX record lock on ``<path>.lock``, which belongs to the process);
``cut_torn_tail`` moves a partial last line (a write cut by a crash) aside and truncates the
newest segment to its last complete line; ``read_tail`` finds where the chain goes on. None
reads more than a segment's tail.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from claudescale.audit.format import ZERO_HASH, LineProblem, list_segments, parse_line
from claudescale.audit.tail import (
    byte_at,
    last_newline_before,
    line_ending_at,
    read_range,
    sha256_range,
)
from claudescale.errors import AuditError

FILE_MODE = 0o640


def lock_log(path: Path) -> int:
    """Take the log's writer lock (``<path>.lock``) and return its descriptor; closing it
    releases the lock. Raises AuditError when another process holds it."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        raise AuditError(
            f"The audit log {path} is already open for writing by another process "
            f"(lock {lock_path.name})."
        ) from exc
    return fd


def sync_directory(directory: Path, fsync: Callable[[int], None]) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def cut_torn_tail(path: Path, fsync: Callable[[int], None]) -> dict[str, Any] | None:
    """Move a partial last line of ``path`` into ``<path>.torn-<sha256>`` and truncate the
    file to its last complete line. Returns the fields of the ``torn_tail`` record to append,
    or None when the file ends cleanly (or does not exist)."""
    if not path.exists():
        return None
    with path.open("r+b") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0 or byte_at(stream, size - 1) == b"\n":
            return None
        keep = last_newline_before(stream, size) + 1
        digest = sha256_range(stream, keep, size)
        aside = path.with_name(f"{path.name}.torn-{digest[:16]}")
        _copy_range(stream, keep, size, aside, fsync)
        stream.truncate(keep)
        stream.flush()
        fsync(stream.fileno())
    return {
        "segment": path.name,
        "offset_bytes": keep,
        "discarded_bytes": size - keep,
        "discarded_sha256": digest,
        "moved_to": aside.name,
    }


def _copy_range(
    stream: BinaryIO, start: int, end: int, target: Path, fsync: Callable[[int], None]
) -> None:
    with target.open("wb") as out:
        for chunk in read_range(stream, start, end):
            out.write(chunk)
        out.flush()
        fsync(out.fileno())
    sync_directory(target.parent, fsync)


def read_tail(path: Path) -> tuple[int, str, int]:
    """The next seq, the last hash and the highest rotated number of the log at ``path``,
    from the newest non-empty segment's last line. Raises AuditError when that line is
    partial or damaged."""
    segments = list_segments(path)
    last_number = max((s.number for s in segments if s.number is not None), default=0)
    for segment in reversed(segments):
        with segment.path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            if size == 0:
                continue
            if byte_at(stream, size - 1) != b"\n":
                raise AuditError(
                    f"Cannot continue the audit log: {segment.path.name} ends in a partial "
                    "record; run `claudescale audit verify`."
                )
            line = line_ending_at(stream, size - 1)
        parsed = parse_line(line)
        if isinstance(parsed, LineProblem):
            raise AuditError(
                f"Cannot continue the audit log: the last record of {segment.path.name} "
                f"is damaged ({parsed.text}); run `claudescale audit verify`."
            )
        return parsed.seq + 1, parsed.digest, last_number
    return 0, ZERO_HASH, last_number
