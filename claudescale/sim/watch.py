"""Watch streams: ``?watch=true`` answers with one JSON ``{type, object}`` line per change.

Layer: sandbox. Starts from ``resourceVersion`` (or, without one, with ADDED events for what
exists), ends after ``timeoutSeconds`` (with a BOOKMARK when asked for), and answers a
resourceVersion older than the kept history with an ERROR event carrying a 410 Expired
Status, as the API server does. The server can drop every open stream, cleanly or by
aborting the connection, so that clients' reconnect logic is exercised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import orjson
from aiohttp import web

from claudescale.sim import event_views
from claudescale.sim.objects import Obj
from claudescale.sim.resources import RequestInfo, Resource
from claudescale.sim.selectors import field_selector, label_selector
from claudescale.sim.status import SimApiError, bad_request
from claudescale.sim.store import ObjectStore


@dataclass(slots=True)
class ActiveWatch:
    """One open stream; ``drop`` ends it (``abrupt`` aborts the TCP connection)."""

    request: web.Request
    drop: anyio.Event = field(default_factory=anyio.Event)
    abrupt: bool = False


class WatchHub:
    """Wakes every open stream after a write, and can drop them all."""

    def __init__(
        self, store: ObjectStore, default_timeout_s: float, expired_as_status: bool = False
    ) -> None:
        self._store = store
        self._expired_as_status = expired_as_status
        self._changed = anyio.Event()
        self._default_timeout_s = default_timeout_s
        self.active: list[ActiveWatch] = []
        self.started = 0
        self._opened = anyio.Event()
        """Watch streams opened so far."""
        store.add_listener(self._on_write)

    def close(self) -> None:
        self._store.remove_listener(self._on_write)
        self.drop_all(abrupt=False)

    def _on_write(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait_for_open(self, count: int) -> None:
        """Return once at least ``count`` streams are open (for tests and demos)."""
        while len(self.active) < count:
            await self._opened.wait()

    def drop_all(self, abrupt: bool) -> int:
        for watch in self.active:
            watch.abrupt = abrupt
            watch.drop.set()
        return len(self.active)

    async def serve(
        self, request: web.Request, resource: Resource, info: RequestInfo
    ) -> web.StreamResponse:
        query = request.query
        rv_text = query.get("resourceVersion", "")
        try:
            start_rv = int(rv_text) if rv_text not in ("", "0") else None
            timeout_s = float(query.get("timeoutSeconds") or self._default_timeout_s)
        except ValueError:
            raise bad_request(f"invalid watch parameters in {request.query_string!r}") from None
        by_labels = label_selector(query.get("labelSelector"))
        by_fields = field_selector(query.get("fieldSelector"), resource.field_paths)

        def matches(obj: Obj) -> bool:
            return by_labels(obj) and by_fields(obj)

        if self._expired_as_status and start_rv is not None:
            # Like an API server without a watch cache: 410 as the HTTP status.
            self._store.events_since(start_rv, resource, info.namespace)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        watch = ActiveWatch(request)
        self.active.append(watch)
        self.started += 1
        opened, self._opened = self._opened, anyio.Event()
        opened.set()
        try:
            await self._stream(
                response,
                watch,
                resource,
                info,
                start_rv,
                timeout_s,
                matches,
                query.get("allowWatchBookmarks", "").lower() in ("true", "1"),
            )
        except (ConnectionResetError, ConnectionError):
            return response
        finally:
            self.active.remove(watch)
        if watch.abrupt and request.transport is not None:
            request.transport.abort()
            return response
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _stream(
        self,
        response: web.StreamResponse,
        watch: ActiveWatch,
        resource: Resource,
        info: RequestInfo,
        start_rv: int | None,
        timeout_s: float,
        matches: Callable[[Obj], bool],
        bookmarks: bool,
    ) -> None:
        deadline = anyio.current_time() + timeout_s
        last_rv = int(self._store.resource_version)
        if start_rv is None:
            for stored in self._store.list(resource, info.namespace):
                obj = event_views.present(resource, stored)
                if matches(obj):
                    await _send(response, "ADDED", obj)
        else:
            last_rv = start_rv
        while not watch.drop.is_set():
            changed = self._changed
            try:
                events = self._store.events_since(last_rv, resource, info.namespace)
            except SimApiError as exc:
                await _send(response, "ERROR", exc.status())
                return
            for event in events:
                last_rv = event.resource_version
                obj = event_views.present(resource, event.object)
                if matches(obj):
                    await _send(response, event.type, obj)
            remaining_s = deadline - anyio.current_time()
            if remaining_s <= 0:
                if bookmarks:
                    await _send(
                        response,
                        "BOOKMARK",
                        {
                            "kind": resource.kind,
                            "apiVersion": resource.api_version,
                            "metadata": {"resourceVersion": self._store.resource_version},
                        },
                    )
                return
            await _first_of(changed, watch.drop, timeout_s=remaining_s)


async def _first_of(*events: anyio.Event, timeout_s: float) -> None:
    """Return when any of ``events`` is set, or after ``timeout_s``."""
    with anyio.move_on_after(timeout_s):
        async with anyio.create_task_group() as group:

            async def wake_on(event: anyio.Event) -> None:
                await event.wait()
                group.cancel_scope.cancel()

            for event in events:
                group.start_soon(wake_on, event)


async def _send(response: web.StreamResponse, kind: str, obj: Obj) -> None:
    await response.write(orjson.dumps({"type": kind, "object": obj}) + b"\n")
