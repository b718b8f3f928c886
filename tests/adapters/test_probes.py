"""The adapters' cheap probes (``ports.Probe``), which a blind loop asks every poll interval:
Prometheus is asked one constant query, the API server for the workload list; each answers
when its dependency does and raises the port's own error when it does not."""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from claudescale.adapters.prometheus import PROBE_QUERY, PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.config.groups import PrometheusSettings
from claudescale.errors import ClusterError, MetricsUnavailable
from claudescale.ports import Probe
from claudescale.sim import Sandbox
from claudescale.testing.sandbox import ConnectCluster

ONE = (
    b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}'
)
STARTING = b'{"status":"error","errorType":"unavailable","error":"Service Unavailable"}'


class Answering:
    """A one-answer HTTP server standing in for Prometheus; notes the queries it was asked."""

    def __init__(self, status: int, body: bytes) -> None:
        self.queries: list[str] = []
        answering = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.urlsplit(self.path).query
                answering.queries.extend(urllib.parse.parse_qs(query).get("query", []))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)


@pytest.fixture
def answering() -> Iterator[list[Answering]]:
    servers: list[Answering] = []
    yield servers
    for server in servers:
        server.close()


def metrics_at(url: str) -> PrometheusMetrics:
    settings = PrometheusSettings(url=url, rate_window="5s", scrape_interval_s=1.0)
    return PrometheusMetrics(settings, SystemClock())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_prometheus_probe_asks_one_constant_query(answering: list[Answering]) -> None:
    answering.append(Answering(200, ONE))
    metrics = metrics_at(answering[0].url)
    assert isinstance(metrics, Probe)
    await metrics.probe()
    assert answering[0].queries == [PROBE_QUERY]


async def test_the_prometheus_probe_fails_while_it_is_away_or_starting(
    answering: list[Answering],
) -> None:
    answering.append(Answering(503, STARTING))
    for url in (f"http://127.0.0.1:{closed_port()}", answering[0].url):
        with pytest.raises(MetricsUnavailable):
            await metrics_at(url).probe()


async def test_the_cluster_probe_lists_and_fails_with_a_cluster_error_when_it_cannot(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    assert isinstance(cluster, Probe)
    await cluster.probe()
    away = await connect_cluster(f"http://127.0.0.1:{closed_port()}", request_timeout_s=2.0)
    with pytest.raises(ClusterError):
        await away.probe()
