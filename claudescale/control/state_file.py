"""Small crash-safe state files shared by the service and the CLI: approvals, overrides.

Layer: orchestration support (local files only). A state file is one JSON document, changed
only inside ``LockedDocument.transaction()``: an exclusive ``flock`` on ``<file>.lock`` (so the
running service and a ``claudescale approve`` in another process never interleave), read,
change, then write to a temporary file, fsync, ``os.replace`` and fsync the directory. A crash
leaves either the old or the new document, never a mix.

Records in these documents carry ``events``: what happened to them (requested, granted, used,
started, expired, ...), each with ``audited`` false until the process holding the audit log has
copied it there. ``unaudited_events`` and ``mark_audited`` implement that hand-over.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import orjson

from claudescale.errors import StateError

Json = dict[str, Any]
_FILE_MODE = 0o600


class LockedDocument:
    """One JSON object in a file, read and replaced under an inter-process lock."""

    def __init__(self, path: Path, *, fsync: Callable[[int], None] = os.fsync) -> None:
        self.path = path
        self._fsync = fsync

    def read(self) -> Json:
        """The document as it is now (an empty one when the file does not exist, without
        creating anything)."""
        if not self.path.exists():
            return {}
        with self._locked():
            return self._load()

    @contextmanager
    def transaction(self) -> Iterator[Json]:
        """Yields the document; whatever the block leaves in it is written back atomically
        (only when it changed). An exception in the block writes nothing."""
        with self._locked():
            document = self._load()
            before = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
            yield document
            if orjson.dumps(document, option=orjson.OPT_SORT_KEYS) != before:
                self._save(document)

    def _locked(self) -> AbstractContextManager[None]:
        return locked(self.path, "state file")

    def _load(self) -> Json:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateError(f"Cannot read the state file {self.path}: {exc}.") from exc
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StateError(f"The state file {self.path} is not valid JSON.") from exc
        if not isinstance(document, dict):
            raise StateError(f"The state file {self.path} does not hold a JSON object.")
        return document

    def _save(self, document: Json) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        try:
            fd = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                self._fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
            sync_directory(self.path.parent, self._fsync)
        except OSError as exc:
            raise StateError(f"Cannot write the state file {self.path}: {exc}.") from exc


@contextmanager
def locked(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (between processes and within one), so that
    a read-modify-write of ``path`` is never interleaved; StateError names the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(
            path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE
        )
    except OSError as exc:
        raise StateError(f"Cannot open the {what} {path}: {exc}.") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def sync_directory(directory: Path, fsync: Callable[[int], None] = os.fsync) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def add_event(record: Json, event: str, at: float, **fields: Any) -> None:
    """Note that something happened to ``record``; the audit log gets it later."""
    record.setdefault("events", []).append({"event": event, "at": at, **fields, "audited": False})


def unaudited_events(records: list[Json]) -> list[tuple[Json, Json]]:
    """(record, event) for every event not yet in the audit log, oldest first. The caller
    copies each to the audit log and sets ``event["audited"] = True`` in the same
    transaction; a crash in between copies it again (at least once, never lost)."""
    found = [
        (record, event)
        for record in records
        for event in record.get("events", ())
        if not event.get("audited")
    ]
    return sorted(found, key=lambda item: float(item[1].get("at", 0.0)))
