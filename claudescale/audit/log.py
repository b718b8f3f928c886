"""The audit log writer: appends hash-chained records, rotates segments, survives crashes.

Layer: orchestration support (a local file). Implements ``claudescale.ports.AuditSink``.
It must not read the whole log: opening looks only at the tail of the newest segment, and
verifying is ``claudescale.audit.verify``'s job. One process writes a log at a time: a POSIX
record lock on ``<path>.lock`` refuses a second process. The lock belongs to the process, so a
simulated restart in one process (replay) may open the log again; it must then stop using the
old ``AuditLog``, whose ``close()`` also releases the process's lock.

Appends are synchronous: one ``os.write`` of one line, with no user-space buffer to flush;
``durable=True`` also fsyncs before returning (intents, before any cluster write).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson

from claudescale.audit.format import (
    ENVELOPE_KEYS,
    ZERO_HASH,
    LineProblem,
    encode_record,
    list_segments,
    parse_line,
    rotated_path,
)
from claudescale.audit.tail import (
    CHUNK_BYTES,
    byte_at,
    last_newline_before,
    line_ending_at,
    sha256_range,
)
from claudescale.errors import AuditError
from claudescale.ports import Clock

_FILE_MODE = 0o640


class AuditLog:
    """An append-only, hash-chained JSON-lines log, rotated by size.

    ``fsync`` is injectable so tests can see durability without patching ``os``.
    Raises AuditError when the log cannot be opened, continued or written.
    """

    def __init__(
        self,
        path: Path,
        rotate_bytes: int,
        clock: Clock,
        *,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        if rotate_bytes <= 0:
            raise ValueError(f"rotate_bytes must be positive, not {rotate_bytes}.")
        self.path = path
        self._rotate_bytes = rotate_bytes
        self._clock = clock
        self._fsync = fsync
        self._fd = -1
        self._lock_fd = -1
        self._broken: str | None = None
        self._size = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = self._lock()
            torn = self._cut_torn_tail()
            self._next_seq, self._last_hash, self._last_number = self._read_tail()
            self._open_newest()
        except OSError as exc:
            self.close()
            raise AuditError(f"Cannot open the audit log {path}: {exc.strerror or exc}.") from exc
        except BaseException:
            self.close()
            raise
        if torn is not None:
            try:
                self.append("torn_tail", torn, durable=True)
            except BaseException:
                self.close()
                raise

    @property
    def next_seq(self) -> int:
        """The seq the next record will get."""
        return self._next_seq

    @property
    def last_hash(self) -> str:
        """The hash of the newest record (64 zeros when the log is empty)."""
        return self._last_hash

    def append(self, kind: str, fields: Mapping[str, Any], *, durable: bool = False) -> int:
        """Append one record and return its seq; with ``durable`` it is on disk on return.

        Raises ValueError for fields that collide with the envelope or are not JSON
        (nothing is written then), AuditError when the file cannot be written.
        """
        if self._broken is not None:
            raise AuditError(self._broken)
        if self._fd < 0:
            raise AuditError(f"The audit log {self.path} is closed.")
        if not kind:
            raise ValueError("An audit record needs a kind.")
        clash = ENVELOPE_KEYS.intersection(fields)
        if clash:
            raise ValueError(
                f"Audit record {kind!r} cannot have the fields {sorted(clash)}: "
                "the envelope uses them."
            )
        seq = self._next_seq
        record: dict[str, Any] = {
            "seq": seq,
            "prev": self._last_hash,
            "ts": self._clock.wall(),
            "mono": self._clock.now(),
            "epoch": self._clock.epoch,
            "kind": kind,
            **fields,
        }
        try:
            line, digest = encode_record(record)
        except orjson.JSONEncodeError as exc:
            raise ValueError(f"Audit record {kind!r} has a value JSON cannot hold: {exc}.") from exc
        if self._size > 0 and self._size + len(line) > self._rotate_bytes:
            self._rotate()
        self._write(line)
        self._next_seq = seq + 1
        self._last_hash = digest
        if durable:
            try:
                self._fsync(self._fd)
            except OSError as exc:
                # After a failed fsync the kernel may have dropped the pages: what is on
                # disk is unknown, so no later record may claim to follow this one.
                self._broken = f"The audit log {self.path} failed to sync and must be reopened."
                raise AuditError(f"Cannot sync the audit log {self.path}: {exc}.") from exc
        return seq

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Writing and rotating.

    def _write(self, line: bytes) -> None:
        written = 0
        try:
            while written < len(line):
                written += os.write(self._fd, line[written:])
        except OSError as exc:
            self._undo_partial_write(written)
            raise AuditError(f"Cannot write to the audit log {self.path}: {exc}.") from exc
        self._size += written

    def _undo_partial_write(self, written: int) -> None:
        if written == 0:
            return
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._broken = (
                f"The audit log {self.path} ends in a partial record that could not be removed; "
                "reopen it to move the partial record aside."
            )

    def _rotate(self) -> None:
        """Close the newest segment under the next number and start an empty one.

        Crash-safe: the rename is atomic and the directory is synced; a crash before the new
        segment exists leaves only rotated files, and opening continues from the newest one.
        """
        number = self._last_number + 1
        target = rotated_path(self.path, number)
        try:
            self._fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            if target.exists():
                raise FileExistsError(errno.EEXIST, "a rotated segment already has that name")
            os.replace(self.path, target)
            self._sync_directory()
            self._last_number = number
            self._open_newest()
        except OSError as exc:
            self._broken = f"The audit log {self.path} could not be rotated and must be reopened."
            raise AuditError(
                f"Cannot rotate the audit log {self.path} to {target.name}: {exc}."
            ) from exc

    def _open_newest(self) -> None:
        created = not self.path.exists()
        self._fd = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE
        )
        if created:
            self._sync_directory()
        self._size = os.fstat(self._fd).st_size

    def _sync_directory(self) -> None:
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._fsync(fd)
        finally:
            os.close(fd)

    def _lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise AuditError(
                f"The audit log {self.path} is already open for writing by another process "
                f"(lock {lock_path.name})."
            ) from exc
        return fd

    # Opening: the torn tail and the last record.

    def _cut_torn_tail(self) -> dict[str, Any] | None:
        """Move a partial last line (a write cut by a crash) into ``<path>.torn-<sha256>``
        and truncate the newest segment to its last complete line. Returns the fields of the
        ``torn_tail`` record to append, or None when the segment ends cleanly."""
        if not self.path.exists():
            return None
        with self.path.open("r+b") as stream:
            size = stream.seek(0, os.SEEK_END)
            if size == 0 or byte_at(stream, size - 1) == b"\n":
                return None
            keep = last_newline_before(stream, size) + 1
            digest = sha256_range(stream, keep, size)
            aside = self.path.with_name(f"{self.path.name}.torn-{digest[:16]}")
            self._copy_range(stream, keep, size, aside)
            stream.truncate(keep)
            stream.flush()
            self._fsync(stream.fileno())
        return {
            "segment": self.path.name,
            "offset_bytes": keep,
            "discarded_bytes": size - keep,
            "discarded_sha256": digest,
            "moved_to": aside.name,
        }

    def _copy_range(self, stream: BinaryIO, start: int, end: int, target: Path) -> None:
        stream.seek(start)
        with target.open("wb") as out:
            remaining = end - start
            while remaining > 0:
                chunk = stream.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
            out.flush()
            self._fsync(out.fileno())
        self._sync_directory()

    def _read_tail(self) -> tuple[int, str, int]:
        """The next seq, the last hash and the highest rotated number, from the newest
        non-empty segment's last line."""
        segments = list_segments(self.path)
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
