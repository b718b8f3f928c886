"""Where get_metrics finds its series, and that memory per workload stays bounded: the sandbox
ring, Prometheus range queries (a scripted Prometheus on a loopback port) with the loop's
recent replica changes, and nothing at all without an MCP endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mcp.types import TextContent

from claudescale.adapters.prometheus import REPLICAS_METRIC, PrometheusMetrics
from claudescale.assistant import tools
from claudescale.assistant.history import (
    REPLICA_CHANGES,
    SANDBOX_POINTS,
    NoHistory,
    PrometheusHistory,
    RecentReplicas,
    RecordingMetrics,
    history_for,
)
from claudescale.config.groups import PrometheusSettings
from claudescale.core.values import WorkloadRef
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster

CYCLES = 2_000
WEB = WorkloadRef("demo", "web")


class RangePrometheus:
    """Answers every range query from ``matrix(query)``; records the queries it was sent."""

    def __init__(self, scraped_replicas: bool) -> None:
        self.queries: list[str] = []
        self.scraped_replicas = scraped_replicas
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = parse_qs(urlsplit(self.path).query)
                query = params["query"][0]
                outer.queries.append(query)
                start, end = float(params["start"][0]), float(params["end"][0])
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {"resultType": "matrix", "result": outer.matrix(query, start, end)},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def matrix(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        times = [start + 60.0 * i for i in range(int((end - start) // 60.0) + 1)]
        if query.startswith(f"max({REPLICAS_METRIC}"):
            if not self.scraped_replicas:
                return []
            return [{"metric": {}, "values": [[t, "7"] for t in times]}]
        return [
            {"metric": {"claudescale_part": "rate"}, "values": [[t, "1.5"] for t in times]},
            {"metric": {"claudescale_part": "count"}, "values": [[t, "3"] for t in times]},
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)


@pytest.fixture
def prometheus(request: pytest.FixtureRequest) -> Iterator[RangePrometheus]:
    server = RangePrometheus(scraped_replicas=getattr(request, "param", False))
    yield server
    server.close()


async def test_the_sandbox_ring_never_holds_more_than_its_bound_per_workload() -> None:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    cluster.add(WEB, 3).cpu_percent = 50.0
    recording = RecordingMetrics(cluster, clock)
    for _ in range(CYCLES):
        await recording.cpu([await cluster.read_workload(WEB)])
        clock.advance(5)
    assert recording.held(WEB) == SANDBOX_POINTS <= 120
    series = await recording.series(await cluster.read_workload(WEB), 3600.0)
    assert len(series) == SANDBOX_POINTS


async def test_recent_replicas_keep_only_the_last_changes_per_workload() -> None:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    cluster.add(WEB, 3).cpu_percent = 50.0
    replicas = RecentReplicas(cluster, clock)
    for cycle in range(CYCLES):
        cluster.get(WEB).replicas = 3 + cycle // 10 % 2  # a change every ten cycles
        await replicas.cpu([await cluster.read_workload(WEB)])
        clock.advance(5)
    assert replicas.held(WEB) == REPLICA_CHANGES <= 32


async def test_without_an_mcp_endpoint_nothing_is_recorded() -> None:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    metrics, history = history_for(cluster, clock, enabled=False)
    assert metrics is cluster
    assert isinstance(history, NoHistory)
    prometheus = PrometheusMetrics(PrometheusSettings(url="http://127.0.0.1:9"), clock)
    wrapped, found = history_for(prometheus, clock, enabled=True)
    assert isinstance(wrapped, RecentReplicas)
    assert isinstance(found, PrometheusHistory)


@pytest.mark.parametrize(
    ("prometheus", "replicas"), [(False, 3), (True, 7)], indirect=["prometheus"]
)
async def test_get_metrics_answers_from_prometheus_range_queries(
    harness: Any, prometheus: RangePrometheus, replicas: int
) -> None:
    async with harness(cpu=70.0) as world:
        source = PrometheusMetrics(PrometheusSettings(url=prometheus.url), world.clock)
        recent = RecentReplicas(world.cluster, world.clock)
        await recent.cpu([await world.cluster.read_workload(WEB)])
        world.assistant.history = PrometheusHistory(source, recent)
        result = await tools.get_metrics(world.assistant, "demo", "web", 10)
    assert not result.is_error
    points = result.structured_content["points"]
    assert len(points) == 11
    assert [p["cpu_percent"] for p in points] == [pytest.approx(50.0)] * 11  # 1.5 cores, 3 pods
    assert [p["replicas"] for p in points] == [replicas] * 11
    cpu_query = prometheus.queries[0]
    assert 'pod=~"web-[a-z0-9]+-[a-z0-9]+"' in cpu_query
    assert 'namespace=~"demo"' in cpu_query


async def test_get_metrics_reports_an_unreachable_prometheus_as_an_error(harness: Any) -> None:
    async with harness() as world:
        settings = PrometheusSettings(url="http://127.0.0.1:9", query_timeout_s=2.0)
        source = PrometheusMetrics(settings, world.clock)
        world.assistant.history = PrometheusHistory(
            source, RecentReplicas(world.cluster, world.clock)
        )
        result = await tools.get_metrics(world.assistant, "demo", "web", 5)
    assert result.is_error
    [content] = result.content
    assert isinstance(content, TextContent)
    assert "demo/web" in content.text
