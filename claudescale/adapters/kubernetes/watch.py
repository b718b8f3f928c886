"""One kind of object in one namespace, kept in memory by list-then-watch (an informer).

Layer: adapter. ``Informer.run`` lists, then watches from the list's resourceVersion with
``kubernetes_asyncio.watch.Watch().stream``, keeping of each object what its Source's
``compact`` keeps. A clean end of the stream (the server's
``timeoutSeconds``) resumes the watch at once from the last resourceVersion seen; 410 Gone
relists at once; any other failure (a dropped connection, 5xx, 403, a read past its deadline)
marks the informer broken, backs off (doubling up to ``watch_backoff_max_s``) and relists,
which is what makes it whole again. It never raises a ClusterError: whether memory may still
be trusted is for the reader to decide from ``broken_since`` (see ``cache``). An optional
source (a CRD that may not be installed) answering 404 counts as empty and is re-checked
every ``watch_timeout_s``. It must not write to the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from kubernetes_asyncio import watch
from kubernetes_asyncio.client.exceptions import ApiException

from claudescale.adapters.kubernetes.convert import Json
from claudescale.adapters.kubernetes.errors import map_error
from claudescale.config.groups import ClusterSettings
from claudescale.errors import ClusterError, NotFound
from claudescale.ports import Clock

log = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 0.2
Call = Callable[..., Awaitable[Any]]
"""``KubernetesCluster.call``: one request under its deadline, answered as JSON, mapped."""
Changed = Callable[[Json | None, Json | None], None]
"""Told (old, new) for every object that changed after the first list; None is absent."""


@dataclass(frozen=True, slots=True)
class Source:
    """What to list and watch: a client list method with its positional arguments bound."""

    what: str
    """For messages: "Deployments in demo"."""
    list_method: Callable[..., Awaitable[Any]]
    optional: bool = False
    """A 404 means the resource type is not installed: none of them, not an error."""
    compact: Callable[[Json], Json] | None = None
    """What to keep of each object, applied on arrival (``compact``); by default all but
    ``metadata.managedFields``. It must keep ``metadata.name`` and ``resourceVersion``."""


class _Expired(Exception):
    """The watch's resourceVersion is older than the server keeps (410 Gone): relist."""


class Informer:
    """Objects of one Source by name; ``run()`` keeps them current until cancelled."""

    def __init__(
        self,
        source: Source,
        *,
        call: Call,
        settings: ClusterSettings,
        clock: Clock,
        on_change: Changed | None = None,
    ) -> None:
        self.source = source
        self.objects: dict[str, Json] = {}
        self.synced = anyio.Event()
        """Set once the first list has been stored."""
        self.broken_since: float | None = None
        """Clock time of the first failure since the last good list; None while healthy."""
        self.last_error: ClusterError | None = None
        self.lists = 0
        self._call, self._settings, self._clock = call, settings, clock
        self._on_change = on_change

    async def run(self) -> None:
        """List and watch forever; returns only by cancellation."""
        backoff_s = INITIAL_BACKOFF_S
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    resource_version = await self.relist()
                resource_version = await self._watch(resource_version)
                backoff_s = INITIAL_BACKOFF_S
            except _Expired:
                log.info("The watch of %s is too old (410 Gone); relisting.", self.source.what)
                resource_version = None
            except NotFound as exc:
                if not self.source.optional:
                    backoff_s = await self._failed(exc, backoff_s)
                else:
                    self._store({}, absent=True)
                    await self._clock.sleep(self._settings.watch_timeout_s)
                resource_version = None
            except ClusterError as exc:
                backoff_s = await self._failed(exc, backoff_s)
                resource_version = None

    async def relist(self) -> str:
        """List afresh and store the result (telling ``on_change`` the differences once
        synced); returns the list's resourceVersion. Raises ClusterError."""
        listing = await self._call(f"listing {self.source.what}", self.source.list_method)
        self.lists += 1
        keep = self.source.compact or _slim
        fresh = {_name(item): keep(item) for item in listing.get("items") or []}
        self._store(fresh)
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def _store(self, fresh: dict[str, Json], *, absent: bool = False) -> None:
        old, self.objects = self.objects, fresh
        if self.synced.is_set():
            for name in old.keys() | fresh.keys():
                before, after = old.get(name), fresh.get(name)
                if _version(before) != _version(after):
                    self._changed(before, after)
        self.broken_since, self.last_error = None, None
        if absent:
            log.debug("%s are not served here; counted as none.", self.source.what)
        self.synced.set()

    async def _failed(self, exc: ClusterError, backoff_s: float) -> float:
        if self.broken_since is None:
            self.broken_since = self._clock.now()
        self.last_error = exc
        log.warning(
            "The watch of %s failed; relisting in %.1f s: %s", self.source.what, backoff_s, exc
        )
        await self._clock.sleep(backoff_s)
        return min(backoff_s * 2, self._settings.watch_backoff_max_s)

    async def _watch(self, resource_version: str) -> str:
        """Apply events from one watch request until the server ends it; returns the last
        resourceVersion seen. Raises _Expired or ClusterError."""
        settings = self._settings
        what = f"watching {self.source.what}"
        read_limit_s = settings.watch_timeout_s + settings.request_timeout_s
        async with watch.Watch(return_type="object") as stream:
            events = stream.stream(
                self.source.list_method,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, int(settings.watch_timeout_s)),
                _request_timeout=(settings.request_timeout_s, read_limit_s),
            )
            while True:
                try:
                    with anyio.fail_after(read_limit_s):
                        event = await anext(events)
                except StopAsyncIteration:
                    return resource_version
                except ApiException as exc:
                    if exc.status == 410:
                        raise _Expired() from exc
                    raise map_error(exc, what) from exc
                except Exception as exc:
                    raise map_error(exc, what, read_limit_s) from exc
                resource_version = self._apply(event, resource_version, what)

    def _apply(self, event: Any, resource_version: str, what: str) -> str:
        if not isinstance(event, dict) or not isinstance(event.get("raw_object"), dict):
            error = ValueError(f"a watch line that is not an event: {str(event)[:200]!r}")
            raise map_error(error, what) from error
        kind, obj = str(event.get("type")), event["raw_object"]
        resource_version = str(_version(obj) or resource_version)
        if kind == "BOOKMARK":
            return resource_version
        name = _name(obj)
        before = self.objects.get(name)
        after: Json | None = None
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            after = self.objects[name] = (self.source.compact or _slim)(obj)
        self._changed(before, after)
        return resource_version

    def _changed(self, before: Json | None, after: Json | None) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(before, after)
        except Exception:  # a listener's bug must not stop the watch; it is logged
            log.exception("A listener failed on a change of %s.", self.source.what)


def _name(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _version(obj: Json | None) -> str | None:
    if obj is None:
        return None
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return None if version is None else str(version)


def _slim(obj: Json) -> Json:
    """Without ``metadata.managedFields``: often the largest part, and never read."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
