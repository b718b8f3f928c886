"""The sandbox's object store: objects by resource, one resourceVersion counter, watch history.

Layer: sandbox. Like etcd behind the API server: every write bumps one global
resourceVersion and is recorded as a watch event; the history is bounded, and a watch that
starts before what is left of it is told 410 Gone. Stored dicts are never mutated in place:
writers pass new dicts, readers may hold on to what they got.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from claudescale.sim.objects import Obj
from claudescale.sim.resources import Resource
from claudescale.sim.status import SimApiError, already_exists, conflict, not_found

FIRST_RESOURCE_VERSION = 1000


@dataclass(frozen=True, slots=True)
class WatchEvent:
    resource_version: int
    type: str
    """ADDED, MODIFIED or DELETED."""
    resource_key: str
    namespace: str
    object: Obj


class ObjectStore:
    """Objects keyed by (resource key, namespace, name), with watch history and listeners."""

    def __init__(self, history_limit: int = 1000) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._rv = FIRST_RESOURCE_VERSION
        self._history: deque[WatchEvent] = deque()
        self._history_limit = history_limit
        self._compacted_rv = FIRST_RESOURCE_VERSION
        self._listeners: list[Callable[[], None]] = []

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """``callback`` runs after every write (the server wakes its watches with it)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.remove(callback)

    def get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        return self._objects.get(resource.storage_key, {}).get((namespace, name))

    def require(self, resource: Resource, namespace: str, name: str) -> Obj:
        obj = self.get(resource, namespace, name)
        if obj is None:
            raise not_found(resource.key, name, resource.group, resource.plural)
        return obj

    def list(self, resource: Resource, namespace: str | None = None) -> list[Obj]:
        items = self._objects.get(resource.storage_key, {})
        keys = sorted(k for k in items if namespace is None or k[0] == namespace)
        return [items[k] for k in keys]

    def count(self, resource: Resource) -> int:
        return len(self._objects.get(resource.storage_key, {}))

    def create(self, resource: Resource, obj: Obj) -> Obj:
        namespace, name = _identity(obj)
        bucket = self._objects.setdefault(resource.storage_key, {})
        if (namespace, name) in bucket:
            raise already_exists(resource.key, name, resource.group, resource.plural)
        return self._write(resource, "ADDED", namespace, name, obj)

    def update(self, resource: Resource, obj: Obj, expect_rv: str | None = None) -> Obj:
        """Replace an object; with ``expect_rv`` only if it is still at that version (else 409)."""
        namespace, name = _identity(obj)
        current = self.require(resource, namespace, name)
        if expect_rv is not None and expect_rv != current["metadata"]["resourceVersion"]:
            raise conflict(resource.key, name, resource.group, resource.plural)
        return self._write(resource, "MODIFIED", namespace, name, obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> Obj:
        current = self.require(resource, namespace, name)
        del self._objects[resource.storage_key][(namespace, name)]
        gone = {**current, "metadata": dict(current["metadata"])}
        return self._write(resource, "DELETED", namespace, name, gone, store=False)

    def events_since(
        self, resource_version: int, resource: Resource, namespace: str | None
    ) -> tuple[WatchEvent, ...]:
        """Events after ``resource_version`` for one resource; 410 Gone if it was compacted."""
        if resource_version < self._compacted_rv:
            raise SimApiError(
                410,
                "Expired",
                f"too old resource version: {resource_version} ({self._compacted_rv})",
            )
        return tuple(
            e
            for e in self._events_after(resource_version)
            if e.resource_key == resource.storage_key
            and (namespace is None or e.namespace == namespace)
        )

    def compact(self) -> None:
        """Forget all history, as etcd compaction does; older watches get 410 Gone."""
        self._history.clear()
        self._compacted_rv = self._rv

    def _events_after(self, resource_version: int) -> Iterable[WatchEvent]:
        # History is ordered by resourceVersion; walk from the newest end while it is newer.
        newer: list[WatchEvent] = []
        for event in reversed(self._history):
            if event.resource_version <= resource_version:
                break
            newer.append(event)
        return reversed(newer)

    def _write(
        self, resource: Resource, kind: str, namespace: str, name: str, obj: Obj, store: bool = True
    ) -> Obj:
        self._rv += 1
        meta: dict[str, Any] = {**obj["metadata"], "resourceVersion": str(self._rv)}
        written = {**obj, "metadata": meta}
        if store:
            self._objects.setdefault(resource.storage_key, {})[(namespace, name)] = written
        self._history.append(WatchEvent(self._rv, kind, resource.storage_key, namespace, written))
        while len(self._history) > self._history_limit:
            self._compacted_rv = self._history.popleft().resource_version
        for callback in list(self._listeners):
            callback()
        return written


def _identity(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise SimApiError(422, "Invalid", "metadata.name: Required value: name is required")
    return str(meta.get("namespace") or ""), str(name)
