"""The audit log writer: appends hash-chained records, rotates segments, survives crashes.

Layer: orchestration support (a local file). Implements ``claudescale.ports.AuditSink``.
It must not read the whole log: opening looks only at the tail of the newest segment, and
verifying is ``claudescale.audit.verify``'s job. One process writes a log at a time: a POSIX
record lock on ``<path>.lock`` refuses a second process. The lock belongs to the process, so a
simulated restart in one process (replay) may open the log again; it must then stop using the
old ``AuditLog``, whose ``close()`` also releases the process's lock.

Appends are synchronous: one ``os.write`` of one line, with no user-space buffer to flush;
``durable=True`` also fsyncs before returning (intents, before any cluster write) and then
rewrites the checkpoint (``claudescale.audit.checkpoint``), as ``close()`` does. A log told
to ``track`` the recovered state snapshots it now and then (``claudescale.audit.state``). A
log whose end does not match its checkpoint, or that a recovery found damaged
(``distrust``), keeps its old checkpoint until an operator seals it, so the damage stays
visible to every restart.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from claudescale.audit.checkpoint import Anchor, check_tail, checkpoint_path, write_anchor
from claudescale.audit.files import FILE_MODE, cut_torn_tail, lock_log, read_tail, sync_directory
from claudescale.audit.format import (
    ENVELOPE_KEYS,
    encode_record,
    rotated_path,
)
from claudescale.audit.retention import NO_RETENTION, Retention, apply_retention
from claudescale.audit.state import EVERY_HOUR, StateKeeper, StatePolicy
from claudescale.core.recovery_fold import Fold
from claudescale.errors import AuditError
from claudescale.ports import Clock


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
        retention: Retention = NO_RETENTION,
        state: StatePolicy = EVERY_HOUR,
    ) -> None:
        if rotate_bytes <= 0:
            raise ValueError(f"rotate_bytes must be positive, not {rotate_bytes}.")
        self.path = path
        self._rotate_bytes = rotate_bytes
        self._clock = clock
        self._fsync = fsync
        self._retention = retention
        self._retention_due = False
        self._state_policy = state
        self._keeper: StateKeeper | None = None
        self._fd = -1
        self._lock_fd = -1
        self._broken: str | None = None
        self._distrusted: str | None = None
        self._checkpoint: Anchor | None = None
        self._anchoring = False
        self._size = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = lock_log(self.path)
            torn = cut_torn_tail(self.path, self._fsync)
            self._next_seq, self._last_hash, self._last_number = read_tail(self.path)
            self._check_end()
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
        # Only once the caller could verify the log may a new checkpoint replace the old one.
        self._anchoring = True

    @property
    def next_seq(self) -> int:
        """The seq the next record will get."""
        return self._next_seq

    @property
    def last_hash(self) -> str:
        """The hash of the newest record (64 zeros when the log is empty)."""
        return self._last_hash

    @property
    def anchor_problem(self) -> str | None:
        """Why the checkpoint is kept as it is (the log's end does not match it, or a
        recovery found the log damaged); None while every durable append re-anchors."""
        return self._distrusted

    @property
    def epoch(self) -> str:
        return self._clock.epoch

    def track(self, fold: Fold) -> None:
        """Fold every record appended from now on onto ``fold`` (the verified log so far)."""
        self._keeper = StateKeeper(fold, self._state_policy, self._clock.now(), self._fsync)

    def _snapshot(self) -> None:
        """Snapshot the recovered state while the chain is trusted (a broken log refuses what
        follows; a missing snapshot only makes the next start slower)."""
        trusted = self._distrusted is None and self._broken is None and self._anchoring
        if self._keeper is not None and trusted and self._fd >= 0:
            with contextlib.suppress(OSError, AuditError):
                end = self._next_seq - 1
                self._keeper.write(self.path, end, self._last_hash, self.append, self._clock.now())

    def distrust(self, problem: str) -> None:
        """The log did not verify: keep the old checkpoint from now on, so every restart
        finds the damage again until ``claudescale audit seal`` starts a new chain."""
        self._distrusted = problem

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
        if self._keeper is not None:
            self._keeper.add(record)
        if durable:
            try:
                self._fsync(self._fd)
            except OSError as exc:
                # After a failed fsync the kernel may have dropped the pages: what is on
                # disk is unknown, so no later record may claim to follow this one.
                self._broken = f"The audit log {self.path} failed to sync and must be reopened."
                raise AuditError(f"Cannot sync the audit log {self.path}: {exc}.") from exc
            self._anchor()
        if self._retention_due:
            self._retention_due = False
            self.apply_retention()
        if self._keeper is not None and self._keeper.due(self._clock.now()):
            self._snapshot()
        return seq

    def apply_retention(self) -> list[str]:
        """Delete the rotated segments the retention settings no longer keep, and record it;
        nothing while the chain is distrusted or not yet anchored. Returns the names."""
        if self._distrusted is not None or self._checkpoint is None or not self._anchoring:
            return []
        deleted = apply_retention(
            self.path,
            self._retention,
            wall_now=self._clock.wall(),
            checkpoint_seq=self._checkpoint.seq,
            fsync=self._fsync,
        )
        if deleted:
            self.append("retention", {"deleted": deleted})
        return deleted

    def close(self) -> None:
        if self._keeper is not None and self._keeper.pending > 0:
            self._snapshot()
        if self._fd >= 0 and self._broken is None and self._next_seq > 0:
            try:
                self._fsync(self._fd)
                self._anchor()
            except (OSError, AuditError):
                pass  # the checkpoint lags behind the end; verifying still passes
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

    # The checkpoint.

    def _anchor(self) -> None:
        """Record the newest (synced) record as the checkpoint, unless it must be kept."""
        if not self._anchoring or self._distrusted is not None:
            return
        anchor = Anchor(self._next_seq - 1, self._last_hash)
        if anchor == self._checkpoint:
            return
        try:
            write_anchor(checkpoint_path(self.path), anchor, self._fsync)
        except OSError as exc:
            self._broken = f"The audit log {self.path} could not be anchored and must be reopened."
            raise AuditError(
                f"Cannot write the checkpoint of the audit log {self.path}: {exc}."
            ) from exc
        self._checkpoint = anchor

    def _check_end(self) -> None:
        """Compare the newest record with the checkpoint, cheaply (the tail only); the full
        check is ``verify``'s."""
        self._checkpoint, self._distrusted = check_tail(
            self.path, self._next_seq - 1, self._last_hash
        )

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
            self._retention_due = self._retention.active
        except OSError as exc:
            self._broken = f"The audit log {self.path} could not be rotated and must be reopened."
            raise AuditError(
                f"Cannot rotate the audit log {self.path} to {target.name}: {exc}."
            ) from exc

    def _open_newest(self) -> None:
        created = not self.path.exists()
        self._fd = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE
        )
        if created:
            self._sync_directory()
        self._size = os.fstat(self._fd).st_size

    def _sync_directory(self) -> None:
        sync_directory(self.path.parent, self._fsync)
