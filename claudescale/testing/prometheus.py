"""A real Prometheus as tests see it, and a fake cAdvisor for it to scrape.

Layer: testing (public). ``PrometheusHarness`` wraps a running ``PrometheusProcess`` (see
``claudescale.sim.prometheus``) with its targets and bounded waits for data; new targets are
scraped within about 6 s (Prometheus applies discovery changes at most every 5 s), so tests
that need data should share one exporter and wait once. ``FakeCadvisor`` is a tiny HTTP
server exposing ``container_cpu_usage_seconds_total`` for fake pods, in cAdvisor's format,
with values the test controls: counters that grow at a given number of cores, or fixed values
such as NaN. Nothing here starts Prometheus by itself or depends on pytest.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from claudescale.sim.prometheus import PrometheusProcess, instant_query

SCRAPE_INTERVAL_S = 1.0
"""Every test Prometheus scrapes this often."""
_POLL_S = 0.25


class PrometheusHarness:
    """The session's Prometheus as tests see it: its URL, its targets, bounded waits."""

    def __init__(self, process: PrometheusProcess) -> None:
        self._process = process
        self._closing = threading.Event()

    @property
    def url(self) -> str:
        return self._process.url

    def add_target(self, host_port: str, labels: Mapping[str, str] | None = None) -> None:
        """Scrape ``host_port``/metrics from now on (first scrape within about 6 s)."""
        self._process.targets.add(host_port, labels)

    def remove_target(self, host_port: str) -> None:
        self._process.targets.remove(host_port)

    @contextmanager
    def scraping(self, host_port: str, labels: Mapping[str, str] | None = None) -> Iterator[None]:
        """Scrape a target for the duration of a ``with`` block."""
        self.add_target(host_port, labels)
        try:
            yield
        finally:
            self.remove_target(host_port)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """One instant query; the raw ``data.result`` list."""
        return instant_query(self.url, promql)

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        *,
        timeout_s: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``predicate(result)`` holds; fail the test after timeout_s."""
        deadline = time.monotonic() + timeout_s
        result = self.query(promql)
        while not predicate(result):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"Prometheus query {promql!r} did not give the expected data within "
                    f"{timeout_s:g} s; last result: {result!r}"
                )
            # Polling: Prometheus has no way to wait for data. Bounded by the deadline.
            self._closing.wait(_POLL_S)
            result = self.query(promql)
        return result


@dataclass(slots=True)
class _Series:
    cores: float
    """Growth of the counter in CPU seconds per second; ignored when ``fixed`` is set."""
    base_s: float
    since: float
    fixed: float | None = None

    def value(self, now: float) -> float:
        if self.fixed is not None:
            return self.fixed
        return self.base_s + self.cores * (now - self.since)


class FakeCadvisor:
    """An HTTP server in a thread serving ``/metrics`` like a kubelet's cAdvisor endpoint.

    Series are keyed by (namespace, pod, container); ``container=""`` is the pod-level cgroup
    and ``container="POD"`` the pause container, as in real cAdvisor output.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-cadvisor",
            daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def set_rate(self, namespace: str, pod: str, cores: float, container: str = "app") -> None:
        """Make the counter grow at ``cores`` CPU seconds per second from now on."""
        now = time.monotonic()
        with self._lock:
            key = (namespace, pod, container)
            old = self._series.get(key)
            base_s = old.value(now) if old is not None and old.fixed is None else 0.0
            self._series[key] = _Series(cores=cores, base_s=base_s, since=now)

    def set_value(self, namespace: str, pod: str, value: float, container: str = "app") -> None:
        """Expose a fixed value (NaN, +Inf, a number) until told otherwise."""
        with self._lock:
            self._series[namespace, pod, container] = _Series(
                cores=0.0, base_s=0.0, since=time.monotonic(), fixed=value
            )

    def remove(self, namespace: str, pod: str, container: str = "app") -> None:
        with self._lock:
            self._series.pop((namespace, pod, container), None)

    def exposition(self) -> str:
        """The text exposition format, as Prometheus will scrape it now."""
        now = time.monotonic()
        lines = [
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
            "# TYPE container_cpu_usage_seconds_total counter",
        ]
        with self._lock:
            for (namespace, pod, container), series in sorted(self._series.items()):
                labels = (
                    f'container="{container}",cpu="total",id="/kubepods/{namespace}/{pod}",'
                    f'image="example",name="{pod}-{container}",namespace="{namespace}",'
                    f'pod="{pod}"'
                )
                lines.append(
                    f"container_cpu_usage_seconds_total{{{labels}}} {_number(series.value(now))}"
                )
        return "\n".join(lines) + "\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
