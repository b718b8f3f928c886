"""``claudescale demo-app``: the demo's workload for a real cluster, a tiny HTTP server whose
CPU use grows with its request rate.

Layer: edge (a standalone server; standard library only, so it runs from the product image
without the dev extra). Every ``GET /`` burns ``cpu_ms_per_request`` milliseconds of CPU time
in its own thread (measured with the thread's CPU clock, so waiting for the GIL does not
count), so a pod uses about ``rate × cpu_ms_per_request`` of CPU, up to one core: the
load Job's request rate is what claudescale sees in cAdvisor's counters. ``/healthz`` answers
at once for the probes; ``/metrics`` counts requests and burnt CPU seconds. It knows nothing
about claudescale and must not talk to the cluster.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_PORT = 8080
DEFAULT_CPU_MS = 20.0


@dataclass(frozen=True, slots=True)
class AppSettings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    """0 picks a free port."""
    cpu_ms_per_request: float = DEFAULT_CPU_MS
    """CPU time one ``GET /`` burns, in milliseconds."""


def burn(cpu_s: float) -> float:
    """Spin until this thread has used ``cpu_s`` seconds of CPU; returns what it used."""
    started = time.thread_time()
    checksum = 0
    while time.thread_time() - started < cpu_s:
        for i in range(2000):
            checksum = (checksum * 31 + i) % 1_000_003
    return time.thread_time() - started


class _Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.cpu_s = 0.0
        self._lock = threading.Lock()

    def add(self, cpu_s: float) -> None:
        with self._lock:
            self.requests += 1
            self.cpu_s += cpu_s


class DemoApp:
    """The server; ``start()`` serves in a background thread, ``serve_forever()`` in this one."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.counters = _Counters()
        handler = type("Handler", (_Handler,), {"app": self})
        self._server = ThreadingHTTPServer((settings.host, settings.port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}/"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> DemoApp:
        self._thread = threading.Thread(target=self.serve_forever, name="demo-app", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def metrics_text(self) -> str:
        return (
            "# HELP demo_app_requests_total Requests that burnt CPU.\n"
            "# TYPE demo_app_requests_total counter\n"
            f"demo_app_requests_total {self.counters.requests}\n"
            "# HELP demo_app_cpu_burnt_seconds_total CPU time burnt by requests.\n"
            "# TYPE demo_app_cpu_burnt_seconds_total counter\n"
            f"demo_app_cpu_burnt_seconds_total {self.counters.cpu_s:.6f}\n"
        )


class _Handler(BaseHTTPRequestHandler):
    app: DemoApp
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._answer(200, "ok\n")
        elif path == "/metrics":
            self._answer(200, self.app.metrics_text(), "text/plain; version=0.0.4")
        elif path == "/":
            used_s = burn(self.app.settings.cpu_ms_per_request / 1000.0)
            self.app.counters.add(used_s)
            self._answer(200, f"ok: {used_s * 1000:.1f} ms of CPU\n")
        else:
            self._answer(404, f"{path} is not served here; try / or /healthz.\n")

    def _answer(self, status: int, text: str, content_type: str = "text/plain") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would cost more than the request."""
