"""The anchors of the audit chain kept outside the log: the checkpoint of its end and the
anchor of its start.

Layer: orchestration support (local files). The checkpoint (``<log>.checkpoint``) holds the
seq and hash of the newest durable record; ``AuditLog`` rewrites it atomically (temporary
file, fsync, rename, directory fsync) with every durable append and on close, so a tail cut
at a line boundary, or a chain recomputed without its last records, no longer verifies. The
start anchor (``<log>.anchor``) holds the seq and ``prev`` hash of the oldest kept record once
retention has deleted older segments. This module reads and writes those two small files
only; it never reads the log.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from claudescale.audit.format import ZERO_HASH

_FILE_MODE = 0o640


@dataclass(frozen=True, slots=True)
class Anchor:
    """A point of the chain: record ``seq`` and a hash (its own for the checkpoint, its
    ``prev`` for the start anchor)."""

    seq: int
    hash: str


START = Anchor(0, ZERO_HASH)
"""Where a chain starts when no record has ever been deleted by retention."""


def checkpoint_path(log: Path) -> Path:
    return log.with_name(log.name + ".checkpoint")


def start_anchor_path(log: Path) -> Path:
    return log.with_name(log.name + ".anchor")


class AnchorUnreadable(ValueError):
    """An anchor file exists but does not hold an anchor (damaged or edited)."""


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in ``path``; None when there is no such file. Raises AnchorUnreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AnchorUnreadable(f"{path.name} is not valid JSON") from None
    seq = data.get("seq") if isinstance(data, dict) else None
    digest = data.get("hash") if isinstance(data, dict) else None
    if type(seq) is not int or seq < 0 or not isinstance(digest, str) or len(digest) != 64:
        raise AnchorUnreadable(f"{path.name} does not hold a seq and a hash")
    return Anchor(seq, digest)


def read_start(log: Path) -> Anchor:
    """Where the kept chain starts: the start anchor, else seq 0 with the zero hash."""
    return read_anchor(start_anchor_path(log)) or START


def write_anchor(path: Path, anchor: Anchor, fsync: Callable[[int], None] = os.fsync) -> None:
    """Replace ``path`` atomically with ``anchor``; on return it is on disk."""
    write_atomically(path, orjson.dumps({"seq": anchor.seq, "hash": anchor.hash}) + b"\n", fsync)


def write_atomically(path: Path, data: bytes, fsync: Callable[[int], None] = os.fsync) -> None:
    """Replace ``path`` with ``data`` (temporary file, fsync, rename, directory fsync)."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(directory)
    finally:
        os.close(directory)


def check_tail(log: Path, last_seq: int, last_hash: str) -> tuple[Anchor | None, str | None]:
    """The checkpoint of ``log`` and, when the log's newest record (``last_seq``, -1 for
    none, and ``last_hash``) cannot be its continuation, why; reads the checkpoint only."""
    try:
        checkpoint = read_anchor(checkpoint_path(log))
    except AnchorUnreadable as exc:
        return None, f"The audit log's checkpoint {exc}."
    if checkpoint is None:
        if last_seq >= 0:
            name = checkpoint_path(log).name
            return None, f"The audit log {log} has records but no checkpoint {name}."
        return None, None
    if last_seq < checkpoint.seq:
        return checkpoint, (
            f"The audit log {log} ends at seq {last_seq} but its checkpoint holds "
            f"seq {checkpoint.seq}."
        )
    if last_seq == checkpoint.seq and last_hash != checkpoint.hash:
        return checkpoint, (
            f"The last record of the audit log {log} does not have the hash its checkpoint holds."
        )
    return checkpoint, None
