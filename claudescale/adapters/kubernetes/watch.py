"""Watching Deployments: a change stream that survives dropped connections and 410 Gone,
and a WorkloadView kept fresh by it between polls.

Layer: adapter. ``watch_deployments`` lists, then watches from the list's resourceVersion;
a clean end of stream (the server's timeout) resumes at once from the last resourceVersion
seen; a 410 Expired relists and reports only the differences; a dropped connection or a
5xx backs off (doubling, bounded by ``watch_backoff_max_s``) and resumes. Errors that are
not retryable (Forbidden, ...) end the stream. States from a watch are Deployment-level:
``pods`` are empty and ``owner`` is not looked up; ``read_workload`` gives the full picture.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import anyio
import orjson
from kubernetes_asyncio.client.exceptions import ApiException

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.kubernetes.convert import Json, workload_state
from claudescale.adapters.kubernetes.errors import map_error
from claudescale.core.values import WorkloadRef, WorkloadState
from claudescale.errors import ClusterError

log = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 0.2


class ChangeType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class WorkloadChange:
    type: ChangeType
    state: WorkloadState
    """Deployment-level: no pods, no owner (see the module docstring)."""


class _Expired(Exception):
    """The watch's resourceVersion is older than the server keeps (410): relist."""


async def watch_deployments(
    cluster: KubernetesCluster, namespace: str
) -> AsyncGenerator[WorkloadChange, None]:
    """Every change to Deployments in ``namespace``, forever; starts with ADDED for each."""
    known: dict[WorkloadRef, WorkloadState] = {}
    resource_version: str | None = None
    backoff_s = INITIAL_BACKOFF_S
    while True:
        try:
            if resource_version is None:
                resource_version, changes = await _relist(cluster, namespace, known)
                for change in changes:
                    yield change
            async for kind, obj in _events(cluster, namespace, resource_version):
                backoff_s = INITIAL_BACKOFF_S
                resource_version = str(
                    obj.get("metadata", {}).get("resourceVersion") or resource_version
                )
                if kind == "BOOKMARK":
                    continue
                state = _state(cluster, obj)
                if kind == "DELETED":
                    known.pop(state.ref, None)
                else:
                    known[state.ref] = state
                yield WorkloadChange(ChangeType(kind), state)
        except _Expired:
            log.info("The Deployment watch in %s is too old (410 Gone); relisting.", namespace)
            resource_version = None
        except ClusterError as exc:
            if not exc.retryable:
                raise
            log.warning(
                "The Deployment watch in %s failed; retrying in %.1f s: %s",
                namespace,
                backoff_s,
                exc,
            )
            await cluster.clock.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, cluster.settings.watch_backoff_max_s)


def _state(cluster: KubernetesCluster, obj: Json) -> WorkloadState:
    return workload_state(
        obj, namespaces=cluster.settings.namespaces, opt_in_label=cluster.settings.opt_in_label
    )


async def _relist(
    cluster: KubernetesCluster, namespace: str, known: dict[WorkloadRef, WorkloadState]
) -> tuple[str, list[WorkloadChange]]:
    """List afresh; the changes against what was known, and the list's resourceVersion."""
    listing = await cluster.call(
        f"listing Deployments in {namespace}", cluster.apps.list_namespaced_deployment, namespace
    )
    fresh: dict[WorkloadRef, WorkloadState] = {}
    for item in listing.get("items") or []:
        item.setdefault("metadata", {}).setdefault("namespace", namespace)
        state = _state(cluster, item)
        fresh[state.ref] = state
    changes = [
        WorkloadChange(ChangeType.DELETED, state)
        for ref, state in known.items()
        if ref not in fresh
    ]
    for ref, state in fresh.items():
        previous = known.get(ref)
        if previous is None:
            changes.append(WorkloadChange(ChangeType.ADDED, state))
        elif previous.resource_version != state.resource_version:
            changes.append(WorkloadChange(ChangeType.MODIFIED, state))
    known.clear()
    known.update(fresh)
    return str(listing.get("metadata", {}).get("resourceVersion", "")), changes


async def _events(
    cluster: KubernetesCluster, namespace: str, resource_version: str
) -> AsyncIterator[tuple[str, Json]]:
    """(type, object) from one watch request, until the server ends it."""
    settings = cluster.settings
    what = f"watching Deployments in {namespace}"
    read_limit_s = settings.watch_timeout_s + settings.request_timeout_s
    try:
        response = await cluster.open_stream(
            what,
            cluster.apps.list_namespaced_deployment,
            namespace,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=max(1, int(settings.watch_timeout_s)),
            _request_timeout=(settings.request_timeout_s, read_limit_s),
        )
    except ClusterError as exc:
        # Some servers answer a too-old resourceVersion with HTTP 410 rather than an event.
        if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 410:
            raise _Expired() from exc
        raise
    try:
        while True:
            try:
                with anyio.fail_after(read_limit_s):
                    line = await response.content.readline()
            except Exception as exc:
                raise map_error(exc, what, read_limit_s) from exc
            if not line:
                return
            event = _parse(line, what)
            if event["type"] == "ERROR":
                status: dict[str, Any] = event["object"]
                if status.get("code") == 410:
                    raise _Expired()
                raise map_error(
                    ApiException(status=status.get("code"), reason=status.get("message")), what
                )
            yield event["type"], event["object"]
    finally:
        response.close()


def _parse(line: bytes, what: str) -> dict[str, Any]:
    try:
        event = orjson.loads(line)
        if not isinstance(event, dict) or "type" not in event or "object" not in event:
            raise ValueError(f"a watch line without type and object: {line[:200]!r}")
        return event
    except ValueError as exc:
        raise map_error(exc, what) from exc


class WorkloadView:
    """Deployment-level states of the configured namespaces, fresh between polls.

    Run ``await view.run()`` in a task group; it returns only by raising (an ExceptionGroup
    holding a non-retryable ClusterError) or when cancelled. ``version`` counts applied
    changes; ``wait_for_change(version)`` returns once it has moved past that.
    """

    def __init__(self, cluster: KubernetesCluster, namespaces: Sequence[str] | None = None) -> None:
        self._cluster = cluster
        self._namespaces = tuple(namespaces or cluster.settings.namespaces)
        self._states: dict[WorkloadRef, WorkloadState] = {}
        self._changed: anyio.Event | None = None
        self.version = 0

    def get(self, ref: WorkloadRef) -> WorkloadState | None:
        return self._states.get(ref)

    def states(self) -> dict[WorkloadRef, WorkloadState]:
        return dict(self._states)

    def managed(self) -> list[WorkloadState]:
        return sorted((s for s in self._states.values() if s.managed), key=lambda s: s.ref)

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            for namespace in self._namespaces:
                group.start_soon(self._follow, namespace)

    async def wait_for_change(self, after_version: int) -> int:
        while self.version <= after_version:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
        return self.version

    async def _follow(self, namespace: str) -> None:
        async with contextlib.aclosing(watch_deployments(self._cluster, namespace)) as changes:
            async for change in changes:
                if change.type is ChangeType.DELETED:
                    self._states.pop(change.state.ref, None)
                else:
                    self._states[change.state.ref] = change.state
                self.version += 1
                if self._changed is not None:
                    self._changed.set()
                    self._changed = None
