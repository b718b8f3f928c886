"""The service's small HTTP endpoint: ``/healthz``, ``/readyz``, ``/metrics``, ``/status``,
``POST /reconcile``.

Layer: edge (an aiohttp server, already installed with kubernetes-asyncio). It only reports
and wakes: ``/healthz`` answers 200 while the process and its root loops run, ``/readyz`` 200
once a cycle has read the cluster and the metrics and the loop is not blind (503 otherwise,
with the reason), ``/metrics`` serves the Prometheus text exposition it is handed,
``/status`` the JSON document ``claudescale status`` shows, and ``POST /reconcile`` starts the
next poll cycle now. It never changes
the cluster and it binds to loopback unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from aiohttp import web
from anyio.abc import TaskStatus

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class HealthReport:
    alive: bool
    """The root loops are all running."""
    ready: bool
    """A cycle has seen the cluster and the metrics, and the loop is not blind now."""
    detail: dict[str, Any] = field(default_factory=dict)


def _json(data: Any, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        report: Callable[[], HealthReport],
        reconcile: Callable[[], None],
        metrics: Callable[[], bytes] | None = None,
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """``metrics`` renders the Prometheus exposition, ``status`` the JSON of ``/status``
        (``claudescale.engine.status_view``); without them those paths are not served."""
        self._host, self._port = host, port
        self._report, self._reconcile, self._metrics = report, reconcile, metrics
        self._status = status

    async def serve_forever(
        self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; reports the bound port (``port: 0`` picks one) on start."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_post("/reconcile", self._reconcile_now)
        if self._metrics is not None:
            app.router.add_get("/metrics", self._metrics_now)
        if self._status is not None:
            app.router.add_get("/status", self._status_now)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            task_status.started(int(runner.addresses[0][1]))
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        report = self._report()
        status = "alive" if report.alive else "a root loop is not running"
        return _json({"status": status, **report.detail}, 200 if report.alive else 503)

    async def _readyz(self, request: web.Request) -> web.Response:
        report = self._report()
        status = "ready" if report.ready else "not ready"
        return _json({"status": status, **report.detail}, 200 if report.ready else 503)

    async def _reconcile_now(self, request: web.Request) -> web.Response:
        self._reconcile()
        return _json({"status": "the next cycle starts now"}, 202)

    async def _status_now(self, request: web.Request) -> web.Response:
        assert self._status is not None
        return _json(self._status(), 200)

    async def _metrics_now(self, request: web.Request) -> web.Response:
        assert self._metrics is not None
        body = self._metrics()
        return web.Response(body=body, headers={"Content-Type": PROMETHEUS_TEXT})
