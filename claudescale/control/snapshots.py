"""Snapshots: what a workload looked like just before each of our writes, for rollbacks.

Layer: orchestration support (a local file, ``snapshots.jsonl`` in the state directory). The
executor takes one per workload before every write (durable, before the audit intent); the
CLI lists them and turns one into a rollback proposal. Appends are one line under an
inter-process lock and fsynced; pruning rewrites the file (temporary file, fsync, replace).
Reading streams the file line by line. It never talks to the cluster and decides nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import orjson

from claudescale.control.state_file import locked, sync_directory
from claudescale.core.values import Action, Proposal, Source, WorkloadRef, WorkloadState
from claudescale.errors import StateError
from claudescale.ports import Clock

log = logging.getLogger(__name__)

_FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A workload's replica count and version just before an action of ours."""

    id: str
    workload: str
    uid: str
    replicas: int
    resource_version: str
    taken_at: float
    """Wall time, Unix seconds."""
    to_replicas: int
    """The action it preceded: ``replicas`` → ``to_replicas``."""
    source: str
    actor: str
    proposal_id: str = ""

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef.parse(self.workload)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "workload": self.workload,
            "uid": self.uid,
            "replicas": self.replicas,
            "resource_version": self.resource_version,
            "taken_at": self.taken_at,
            "action": {
                "from": self.replicas,
                "to": self.to_replicas,
                "source": self.source,
                "actor": self.actor,
                "proposal_id": self.proposal_id,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Snapshot:
        action = data["action"]
        if not isinstance(action, dict):
            raise ValueError("a snapshot's action is not an object")
        return cls(
            id=str(data["id"]),
            workload=str(data["workload"]),
            uid=str(data["uid"]),
            replicas=int(str(data["replicas"])),
            resource_version=str(data["resource_version"]),
            taken_at=float(str(data["taken_at"])),
            to_replicas=int(action["to"]),
            source=str(action["source"]),
            actor=str(action["actor"]),
            proposal_id=str(action.get("proposal_id", "")),
        )


class SnapshotStore:
    """An append-only file of snapshots, pruned after ``retention_s`` seconds."""

    def __init__(self, path: Path, clock: Clock, retention_s: float) -> None:
        self.path = path
        self._clock = clock
        self._retention_s = retention_s

    def take(self, state: WorkloadState, proposal: Proposal) -> Snapshot:
        """Record ``state`` before the write ``proposal`` asks for; on disk on return."""
        snapshot = Snapshot(
            id="s-" + secrets.token_hex(5),
            workload=str(state.ref),
            uid=state.uid,
            replicas=state.replicas,
            resource_version=state.resource_version,
            taken_at=self._clock.wall(),
            to_replicas=proposal.target_replicas,
            source=proposal.source.value,
            actor=proposal.actor or proposal.source.value,
            proposal_id=proposal.proposal_id,
        )
        line = orjson.dumps(snapshot.to_json()) + b"\n"
        with self._locked():
            try:
                fd = os.open(
                    self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE
                )
                try:
                    _cut_partial_line(fd)
                    _write_all(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise StateError(f"Cannot write the snapshot file {self.path}: {exc}.") from exc
        return snapshot

    def list(self, workload: str | None = None) -> Iterator[Snapshot]:
        """Snapshots, oldest first, optionally of one workload (``namespace/name``)."""
        try:
            stream = self.path.open("rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"Cannot read the snapshot file {self.path}: {exc}.") from exc
        with stream:
            for number, line in enumerate(stream, 1):
                if not line.endswith(b"\n"):
                    return  # a write cut by a crash: that snapshot's write never happened
                try:
                    snapshot = self._parse(line, number)
                except StateError as exc:
                    # One damaged line must not take every other snapshot (and the approvals
                    # that prune them) down with it: report it and go on.
                    log.error("%s It is skipped.", exc)
                    continue
                if workload is None or snapshot.workload == workload:
                    yield snapshot

    def get(self, snapshot_id: str) -> Snapshot | None:
        return next((s for s in self.list() if s.id == snapshot_id), None)

    def prune(self) -> int:
        """Drop snapshots older than the retention period; returns how many. Cheap when
        there is nothing to drop (it reads only the first line)."""
        cutoff = self._clock.wall() - self._retention_s
        first = next(iter(self.list()), None)
        if first is None or first.taken_at >= cutoff:
            return 0
        temporary = self.path.with_name(self.path.name + ".tmp")
        with self._locked():
            dropped = 0
            try:
                with temporary.open("wb") as out:
                    for snapshot in self.list():
                        if snapshot.taken_at < cutoff:
                            dropped += 1
                            continue
                        out.write(orjson.dumps(snapshot.to_json()) + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
                sync_directory(self.path.parent)
            except OSError as exc:
                raise StateError(f"Cannot prune the snapshot file {self.path}: {exc}.") from exc
        return dropped

    def _parse(self, line: bytes, number: int) -> Snapshot:
        try:
            data = orjson.loads(line)
            return Snapshot.from_json(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StateError(
                f"The snapshot file {self.path} line {number} is not a snapshot."
            ) from exc

    def _locked(self) -> AbstractContextManager[None]:
        return locked(self.path, "snapshot file")


def _cut_partial_line(fd: int) -> None:
    """Drop a last line without its newline (a write cut by a crash or a full disk), so the
    next snapshot does not get glued to it."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    start = size
    while start > 0:
        chunk_start = max(0, start - 4096)
        newline = os.pread(fd, start - chunk_start, chunk_start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, chunk_start + newline + 1)
            return
        start = chunk_start
    os.ftruncate(fd, 0)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a full disk, a signal); finish or fail."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError("the snapshot file accepted no more bytes")
        view = view[written:]


def rollback_proposal(snapshot: Snapshot, state: WorkloadState, actor: str) -> Proposal:
    """The proposal that restores ``snapshot``'s replica count from the fresh ``state``:
    a hold (an idempotent rollback, no write) when the workload is already there."""
    target = snapshot.replicas
    current = state.replicas
    action = Action.SCALE_UP if target > current else Action.SCALE_DOWN
    if target == current:
        action = Action.HOLD
    return Proposal(
        ref=state.ref,
        action=action,
        target_replicas=target,
        reason=f"Rollback to snapshot {snapshot.id}: {snapshot.workload} had {target} "
        f"replicas before the action {snapshot.replicas}→{snapshot.to_replicas} by "
        f"{snapshot.actor}.",
        source=Source.ROLLBACK,
        from_replicas=current,
        actor=actor,
        proposal_id=f"rollback-{snapshot.id}",
        rollback_of=snapshot.id,
    )
