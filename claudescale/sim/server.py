"""The sandbox's HTTP server: the Kubernetes REST paths clients use, over loopback.

Layer: sandbox. Built on aiohttp's server: aiohttp is already installed as a dependency of
kubernetes-asyncio, it streams chunked watch responses natively, binds port 0 and shuts down
cleanly in-process inside a test's event loop, and adds no ASGI layer (uvicorn, starlette)
between the socket and the handler. Every request is authenticated (optional bearer token),
authorized (``admin`` or the product's role), then answered from the SimCluster, with errors
as ``Status`` bodies. ``/metrics`` (cAdvisor counters) and ``/sim/v1`` are outside the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import orjson
from aiohttp import web

from claudescale.sim import control, discovery, metrics, rbac, tables
from claudescale.sim.api import ResourceApi, not_served, resource_for
from claudescale.sim.cluster import SimCluster
from claudescale.sim.resources import RequestInfo, parse_path, served
from claudescale.sim.status import SimApiError, bad_request, status_body
from claudescale.sim.watch import WatchHub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    token: str | None = None
    """When set, API requests need ``Authorization: Bearer <token>`` (else 401)."""
    rbac: str | rbac.Policy = rbac.ADMIN
    """``admin`` (everything), ``product`` (the product ServiceAccount's role), or a Policy
    loaded from RBAC files (``claudescale.sim.rbac_files.load_role_files``)."""
    rbac_namespaces: tuple[str, ...] | None = None
    """With ``product``: the namespaces the role is bound in (None: cluster-wide)."""
    tick_interval_s: float = 0.5
    """How often the simulation catches up with its clock between requests."""
    watch_timeout_s: float = 1800.0
    """A watch without ``timeoutSeconds`` ends after this long."""
    watch_expired_as_status: bool = False
    """Answer a too-old watch with HTTP 410 (no watch cache) instead of an ERROR event."""


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


class Sandbox:
    """A running sandbox API server; use ``async with Sandbox(...) as sandbox``."""

    def __init__(
        self, cluster: SimCluster | None = None, options: SimOptions | None = None
    ) -> None:
        self.cluster = cluster or SimCluster()
        self.options = options or SimOptions()
        self.api = ResourceApi(self.cluster)
        self.requests_served = 0
        self._runner: web.AppRunner | None = None
        self._hub: WatchHub | None = None
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self._port}"

    @property
    def active_watches(self) -> int:
        return len(self._hub.active) if self._hub else 0

    @property
    def watches_started(self) -> int:
        return self._hub.started if self._hub else 0

    async def start(self) -> None:
        self._hub = WatchHub(
            self.cluster.store, self.options.watch_timeout_s, self.options.watch_expired_as_status
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.cleanup_ctx.append(self._ticking)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for_watches(self, count: int = 1) -> None:
        """Return once at least ``count`` watch streams are open (bound it with a deadline)."""
        if self._hub is None:
            raise RuntimeError("The sandbox is not running.")
        await self._hub.wait_for_open(count)

    def drop_watches(self, abrupt: bool = True) -> int:
        """End every open watch stream (abort the connection when ``abrupt``); returns how
        many there were."""
        return self._hub.drop_all(abrupt) if self._hub else 0

    async def _ticking(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp's idiom for a background task: it runs while the application runs."""
        ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        yield
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker

    async def _tick_forever(self) -> None:
        while True:
            await anyio.sleep(self.options.tick_interval_s)
            try:
                self.cluster.tick()
            except Exception:  # a simulation bug must not stop the server; it is logged
                log.exception("The sandbox simulation failed to tick.")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests_served += 1
        try:
            self.cluster.tick()
            path = request.path
            if path == "/metrics":
                return web.Response(
                    text=metrics.exposition(self.cluster.cpu_counters()),
                    headers={"Content-Type": metrics.CONTENT_TYPE},
                )
            if path.startswith("/sim/v1/"):
                return await control.handle(request, self.cluster)
            self._authenticate(request)
            info = parse_path(path)
            watch = request.query.get("watch", "").lower() in ("true", "1")
            rbac.authorize(
                self.options.rbac,
                info,
                info.verb(request.method, watch),
                self.options.rbac_namespaces,
            )
            return await self._route(request, info, watch)
        except SimApiError as exc:
            return _json(exc.status(), exc.code)
        except Exception:
            log.exception("The sandbox failed on %s %s.", request.method, request.path)
            return _json(
                status_body(500, "InternalError", "the sandbox failed on this request"), 500
            )

    def _authenticate(self, request: web.Request) -> None:
        if self.options.token is None:
            return
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.options.token}".encode()):
            raise SimApiError(401, "Unauthorized", "Unauthorized")

    async def _route(
        self, request: web.Request, info: RequestInfo, watch: bool
    ) -> web.StreamResponse:
        if info.kind == "other":
            if request.path in ("/version", "/version/"):
                return _json(discovery.SERVER_VERSION)
            if request.path in ("/healthz", "/livez", "/readyz"):
                return web.Response(text="ok")
            raise not_served()
        resources = served(self.cluster.keda)
        if info.kind == "discovery":
            document = discovery.document(info, resources, f"{self.options.host}:{self._port}")
            if document is None:
                raise not_served()
            return _json(document)
        resource = resource_for(self.cluster, info)
        method = request.method.upper()
        if method == "GET":
            if watch:
                assert self._hub is not None
                return await self._hub.serve(request, resource, info)
            if info.name is None:
                result = self.api.list(
                    resource,
                    info,
                    request.query.get("labelSelector"),
                    request.query.get("fieldSelector"),
                )
                return self._maybe_table(request, resource, result["items"], result)
            obj = self.api.get(resource, info)
            return self._maybe_table(request, resource, [obj], obj)
        if method == "DELETE":
            return _json(self.api.delete(resource, info))
        body = await self._body(request)
        if method == "POST":
            return _json(self.api.create(resource, info, body), 201)
        if method == "PUT":
            return _json(self.api.replace(resource, info, body))
        if method == "PATCH":
            return _json(
                self.api.patch(
                    resource,
                    info,
                    request.headers.get("Content-Type", ""),
                    body,
                    request.query.get("fieldManager")
                    # as the API server does: the user agent up to its first '/'
                    or request.headers.get("User-Agent", "").split("/")[0]
                    or None,
                )
            )
        raise SimApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _maybe_table(
        self, request: web.Request, resource: Any, items: list[Any], obj: Any
    ) -> web.Response:
        if tables.wants_table(request.headers.get("Accept", "")) and (obj.get("kind") != "Scale"):
            return _json(
                tables.table(
                    resource, items, self.cluster.store.resource_version, self.cluster.clock.wall()
                )
            )
        return _json(obj)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            raise bad_request("the request has no body")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SimApiError(
                415, "UnsupportedMediaType", "the sandbox accepts JSON request bodies only"
            ) from None
