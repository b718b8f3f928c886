"""The start-up snapshot of the recovered state: ``<log>.recovered`` and the record binding it.

Layer: orchestration support (local files). The open log keeps folding its own records
(``StateKeeper``); now and then (every ``every_records`` records or ``every_s`` seconds, and
at a clean close) it writes the fold as of record N, with N and N's hash, atomically beside
the log, then appends a durable ``state_checkpoint`` record (N, N's hash, the file's
sha256) as record N+1, which binds the file into the chain. A crash between the two leaves a
file no record names: start-up ignores it. ``claudescale.audit.resume`` reads it back. This
module never reads the log.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from claudescale.audit.checkpoint import write_atomically
from claudescale.core.recovery_fold import Fold, from_json, to_json

STATE_KIND = "state_checkpoint"


def state_path(log: Path) -> Path:
    return log.with_name(log.name + ".recovered")


@dataclass(frozen=True, slots=True)
class StatePolicy:
    """How often the open log writes its snapshot; 0 turns a trigger off (a clean close
    always writes one while the chain is trusted)."""

    every_records: int = 100_000
    every_s: float = 3600.0


EVERY_HOUR = StatePolicy()


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    """The seq of the last record folded (N)."""
    hash: str
    """That record's hash."""
    fold: Fold
    sha256: str
    """Of the file's exact bytes, as the ``state_checkpoint`` record must name it."""


def write_state(
    log: Path, seq: int, digest: str, fold: Fold, fsync: Callable[[int], None] = os.fsync
) -> str:
    """Write the snapshot of ``fold`` as of record ``seq`` atomically; returns its sha256."""
    data = orjson.dumps({"seq": seq, "hash": digest, "fold": to_json(fold)}) + b"\n"
    write_atomically(state_path(log), data, fsync)
    return hashlib.sha256(data).hexdigest()


def read_state(log: Path) -> Snapshot | None:
    """The snapshot beside ``log``; None when there is none or it cannot be read."""
    try:
        raw = state_path(log).read_bytes()
        data = orjson.loads(raw)
        seq, digest = data["seq"], data["hash"]
        if type(seq) is not int or not isinstance(digest, str):
            return None
        return Snapshot(seq, digest, from_json(data["fold"]), hashlib.sha256(raw).hexdigest())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def binds(record: Mapping[str, Any], snapshot: Snapshot) -> bool:
    """``record`` is the ``state_checkpoint`` naming exactly ``snapshot``."""
    return (
        record.get("kind") == STATE_KIND
        and record.get("state_seq") == snapshot.seq
        and record.get("state_hash") == snapshot.hash
        and record.get("state_sha256") == snapshot.sha256
    )


class Append(Protocol):
    """The log's own ``append``, which a state checkpoint record goes through."""

    def __call__(self, kind: str, fields: Mapping[str, Any], *, durable: bool = False) -> int: ...


class StateKeeper:
    """The open log's running fold and when its next snapshot is due."""

    def __init__(
        self, fold: Fold, policy: StatePolicy, now: float, fsync: Callable[[int], None]
    ) -> None:
        self.fold, self.policy, self._fsync = fold, policy, fsync
        self.pending = 0
        """Records appended since the last snapshot."""
        self._last_at = now
        self._writing = False

    def add(self, record: Mapping[str, Any]) -> None:
        self.fold.add(record)
        self.pending += 1

    def due(self, now: float) -> bool:
        if self._writing or self.pending == 0:
            return False
        every_records, every_s = self.policy.every_records, self.policy.every_s
        return (every_records > 0 and self.pending >= every_records) or (
            every_s > 0 and now - self._last_at >= every_s
        )

    def write(self, path: Path, seq: int, last_hash: str, append: Append, now: float) -> None:
        """Snapshot the fold as of the log's newest record (``seq``, whose hash is
        ``last_hash``, in the log at ``path``) and bind it with a durable ``state_checkpoint``
        record through the log's ``append`` (which also makes that newest record durable)."""
        if seq < 0 or self._writing:
            return
        self._writing = True
        try:
            sha = write_state(path, seq, last_hash, self.fold, self._fsync)
            self._last_at = now
            fields = {
                "state_seq": seq,
                "state_hash": last_hash,
                "state_sha256": sha,
                "actor": "claudescale",  # every record names who or what acted
            }
            append(STATE_KIND, fields, durable=True)
            self.pending = 0
        finally:
            self._writing = False
