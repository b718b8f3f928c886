"""The Prometheus metrics adapter: against the session's real Prometheus scraping a fake
cAdvisor, and against small HTTP servers that fail in the ways a Prometheus can."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from claudescale.adapters.prometheus import (
    PrometheusMetrics,
    build_cpu_query,
    namespace_regex,
    parse_cpu_result,
)
from claudescale.adapters.system_clock import SystemClock
from claudescale.config.groups import PrometheusSettings
from claudescale.core.limits import Limits
from claudescale.core.utilisation import classify
from claudescale.core.values import Code, PodState, WorkloadRef, WorkloadState
from claudescale.errors import MetricsUnavailable
from claudescale.sim.prometheus import PrometheusProcess, PrometheusProcessError
from claudescale.testing.clock import ManualClock
from claudescale.testing.prometheus import SCRAPE_INTERVAL_S, FakeCadvisor, PrometheusHarness

RATE_WINDOW = "5s"
WINDOW_SAMPLES = 5
LIMITS = Limits()
EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}


def settings_for(url: str, **overrides: Any) -> PrometheusSettings:
    values: dict[str, Any] = {
        "url": url,
        "rate_window": RATE_WINDOW,
        "scrape_interval_s": SCRAPE_INTERVAL_S,
        "query_timeout_s": 5.0,
        **overrides,
    }
    return PrometheusSettings(**values)


def workload(namespace: str, name: str, *pods: PodState) -> WorkloadState:
    return WorkloadState(
        ref=WorkloadRef(namespace, name),
        uid=f"uid-{name}",
        replicas=len(pods),
        resource_version="1",
        pods=pods,
    )


def ready(name: str, request_cores: float = 0.5) -> PodState:
    return PodState(name=name, ready=True, cpu_request_cores=request_cores)


# --- the real Prometheus ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Namespaces unique to this module, so other tests' series never mix in."""

    prometheus: PrometheusHarness
    shop: str
    fleet: tuple[str, ...]

    def metrics(self, clock: Any = None) -> PrometheusMetrics:
        return PrometheusMetrics(settings_for(self.prometheus.url), clock or SystemClock())


@pytest.fixture(scope="module")
def scenario(prometheus: PrometheusHarness) -> Iterator[Scenario]:
    """One fake cAdvisor for the whole module, scraped until a full rate window is stored."""
    suffix = uuid.uuid4().hex[:8]
    shop = f"shop-{suffix}"
    fleet = tuple(f"fleet{i}-{suffix}" for i in range(3))
    with FakeCadvisor() as cadvisor:
        cadvisor.set_rate(shop, "web-0", 0.25)
        cadvisor.set_rate(shop, "web-1", 0.15)
        # The pod-level cgroup and the pause container must not be counted twice.
        cadvisor.set_rate(shop, "web-0", 3.0, container="")
        cadvisor.set_rate(shop, "web-0", 3.0, container="POD")
        cadvisor.set_rate(shop, "web-2", 2.0)  # not ready: must be left out
        cadvisor.set_value(shop, "nan-0", math.nan)
        cadvisor.set_value(shop, "inf-0", math.inf)
        for namespace in fleet:
            for i in range(10):
                cadvisor.set_rate(namespace, f"app{i}-0", 0.1)
        with prometheus.scraping(cadvisor.address, {"suite": "test_prometheus"}):
            namespaces = "|".join((shop, *fleet))
            prometheus.wait_for(
                f"min(count_over_time(container_cpu_usage_seconds_total"
                f'{{namespace=~"{namespaces}"}}[{RATE_WINDOW}]))',
                lambda result: bool(result) and float(result[0]["value"][1]) >= WINDOW_SAMPLES,
            )
            yield Scenario(prometheus, shop, fleet)


@pytest.mark.prometheus
@pytest.mark.slow
async def test_cpu_percent_is_rate_over_requests_of_ready_pods_without_pod_and_pause_series(
    scenario: Scenario,
) -> None:
    web = workload(
        scenario.shop,
        "web",
        ready("web-0"),
        ready("web-1"),
        PodState("web-2", ready=False, cpu_request_cores=0.5),
    )
    readings = await scenario.metrics().cpu([web])
    reading = readings[web.ref]
    assert reading.percent == pytest.approx(100 * 0.40 / 1.0, rel=0.05)
    assert reading.missing_pods == ()
    assert 0 <= reading.age_s < 3 * SCRAPE_INTERVAL_S
    assert classify(reading, LIMITS, web.ref) is None


@pytest.mark.prometheus
@pytest.mark.slow
async def test_one_query_serves_thirty_workloads_in_three_namespaces(scenario: Scenario) -> None:
    states = [
        workload(namespace, f"app{i}", ready(f"app{i}-0", request_cores=0.2))
        for namespace in scenario.fleet
        for i in range(10)
    ]
    metrics = scenario.metrics()
    readings = await metrics.cpu(states)
    assert metrics.queries_issued == 1
    assert set(readings) == {state.ref for state in states}
    for reading in readings.values():
        assert reading.percent == pytest.approx(50.0, rel=0.05)


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.parametrize("pod", ["nan-0", "inf-0"])
async def test_nan_or_infinite_counter_gives_metric_invalid(scenario: Scenario, pod: str) -> None:
    broken = workload(scenario.shop, "broken", ready("web-0"), ready(pod))
    reading = (await scenario.metrics().cpu([broken]))[broken.ref]
    # rate() of a NaN or +Inf counter is NaN; it must stay NaN, never become 0.
    assert reading.percent is not None and math.isnan(reading.percent)
    assert (classify(reading, LIMITS, broken.ref) or (None,))[0] is Code.METRIC_INVALID


@pytest.mark.prometheus
@pytest.mark.slow
async def test_ready_pod_without_series_gives_metrics_incomplete(scenario: Scenario) -> None:
    partial = workload(scenario.shop, "web", ready("web-0"), ready("ghost-0"))
    reading = (await scenario.metrics().cpu([partial]))[partial.ref]
    assert reading.missing_pods == ("ghost-0",)
    assert reading.percent == pytest.approx(50.0, rel=0.05)
    assert (classify(reading, LIMITS, partial.ref) or (None,))[0] is Code.METRICS_INCOMPLETE


@pytest.mark.prometheus
@pytest.mark.slow
async def test_workload_without_any_series_gives_metric_missing(scenario: Scenario) -> None:
    absent = workload(f"{scenario.shop}-elsewhere", "web", ready("web-0"))
    reading = (await scenario.metrics().cpu([absent]))[absent.ref]
    assert reading.percent is None
    assert (classify(reading, LIMITS, absent.ref) or (None,))[0] is Code.METRIC_MISSING


@pytest.mark.prometheus
@pytest.mark.slow
async def test_samples_older_than_max_age_by_our_clock_give_metric_stale(
    scenario: Scenario,
) -> None:
    web = workload(scenario.shop, "web", ready("web-0"), ready("web-1"))
    later = ManualClock(wall_start=time.time() + LIMITS.metric_max_age_s + 30)
    reading = (await scenario.metrics(later).cpu([web]))[web.ref]
    assert reading.age_s > LIMITS.metric_max_age_s
    assert (classify(reading, LIMITS, web.ref) or (None,))[0] is Code.METRIC_STALE


# --- failures of Prometheus itself -------------------------------------------------------------


class ScriptedPrometheus:
    """An HTTP server answering every request with what ``respond`` returns."""

    def __init__(self, respond: Callable[[], tuple[int, bytes]]) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = threading.Event()
        self.release.set()
        self.two_in_flight = threading.Event()
        lock = threading.Lock()
        harness = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    harness.in_flight += 1
                    harness.most_in_flight = max(harness.most_in_flight, harness.in_flight)
                    if harness.in_flight >= 2:
                        harness.two_in_flight.set()
                try:
                    harness.release.wait(timeout=5.0)
                    status, body = respond()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with lock:
                        harness.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[], tuple[int, bytes]]], ScriptedPrometheus]]:
    servers: list[ScriptedPrometheus] = []

    def start(respond: Callable[[], tuple[int, bytes]]) -> ScriptedPrometheus:
        servers.append(ScriptedPrometheus(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


WEB = workload("shop", "web", ready("web-0"))


async def test_unreachable_prometheus_raises_metrics_unavailable_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    metrics = PrometheusMetrics(settings_for(f"http://127.0.0.1:{closed_port}"), SystemClock())
    started = time.monotonic()
    with pytest.raises(MetricsUnavailable, match="could not be reached") as caught:
        await metrics.cpu([WEB])
    assert time.monotonic() - started < 1.0  # no retries with back-off
    assert caught.value.__cause__ is not None
    assert metrics.queries_issued == 1


async def test_prometheus_that_never_answers_raises_within_the_query_timeout() -> None:
    with socket.socket() as silent:
        # Listening but never accepting: the kernel completes the handshake, nobody answers.
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        metrics = PrometheusMetrics(settings_for(url, query_timeout_s=0.5), SystemClock())
        started = time.monotonic()
        with pytest.raises(MetricsUnavailable):
            await metrics.cpu([WEB])
        assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (503, b'{"status":"error","error":"overloaded"}', "refused"),
        (400, b'{"status":"error","errorType":"bad_data","error":"parse error"}', "refused"),
        (200, b"<html>a proxy login page</html>", "not JSON"),
        (200, b'{"status":"success"}', "not a query result"),
        (200, b'{"status":"success","data":{"result":{"a":1}}}', "not a PromQL vector"),
        (200, b'{"status":"success","data":{"result":[{"metric":{},"value":[1,"x"]}]}}', "vector"),
    ],
)
async def test_error_or_garbage_from_prometheus_raises_metrics_unavailable(
    scripted: Callable[[Callable[[], tuple[int, bytes]]], ScriptedPrometheus],
    status: int,
    body: bytes,
    match: str,
) -> None:
    server = scripted(lambda: (status, body))
    metrics = PrometheusMetrics(settings_for(server.url), SystemClock())
    with pytest.raises(MetricsUnavailable, match=match) as caught:
        await metrics.cpu([WEB])
    assert caught.value.__cause__ is not None


async def test_concurrent_calls_never_exceed_max_concurrent_queries(
    scripted: Callable[[Callable[[], tuple[int, bytes]]], ScriptedPrometheus],
) -> None:
    server = scripted(lambda: (200, json.dumps(EMPTY_VECTOR).encode()))
    server.release.clear()
    metrics = PrometheusMetrics(settings_for(server.url, max_concurrent_queries=2), SystemClock())
    readings: list[Any] = []

    async def one_call() -> None:
        readings.append(await metrics.cpu([WEB]))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one_call)
            assert await anyio.to_thread.run_sync(server.two_in_flight.wait, 5.0)
            # The third query ends up either queued at the limiter or at the server (a broken
            # limiter): wait for whichever happens, then check it was the limiter.
            queued = metrics._limiter.statistics
            with anyio.fail_after(5):
                while queued().tasks_waiting == 0 and server.in_flight < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            assert (queued().tasks_waiting, server.in_flight) == (1, 2)
            server.release.set()
    assert server.most_in_flight == 2
    assert len(readings) == 3
    assert metrics.queries_issued == 3


async def test_no_workloads_sends_no_query() -> None:
    metrics = PrometheusMetrics(settings_for("http://127.0.0.1:1"), SystemClock())
    assert await metrics.cpu([]) == {}
    assert metrics.queries_issued == 0


# --- the query and its result, without a server ---------------------------------------------


def test_query_filters_namespaces_with_an_escaped_anchored_alternation() -> None:
    query = build_cpu_query(settings_for("http://x"), ["shop", "a.b", "shop"])
    assert namespace_regex(["shop", "a.b", "shop"]) == "a\\.b|shop"
    assert 'namespace=~"a\\\\.b|shop"' in query
    assert "[5s]" in query
    assert query.count("container_cpu_usage_seconds_total") == 2


def test_custom_selector_is_used_for_both_rate_and_timestamp() -> None:
    selector = 'my_cpu_total{ns=~"$namespace_regex",kind="app"}'
    query = build_cpu_query(settings_for("http://x", cpu_series_selector=selector), ["shop"])
    assert query.count('my_cpu_total{ns=~"shop",kind="app"}') == 2


def test_pod_needs_both_a_rate_and_a_timestamp_to_have_a_sample() -> None:
    def series(pod: str, part: str, value: str) -> dict[str, Any]:
        labels = {"namespace": "shop", "pod": pod, "claudescale_part": part}
        return {"metric": labels, "value": [1.0, value]}

    result = [
        series("both", "rate", "0.5"),
        series("both", "timestamp", "1700000000.5"),
        series("only-rate", "rate", "0.5"),
        series("only-stamp", "timestamp", "1700000000.5"),
        series("nan", "rate", "NaN"),
        series("nan", "timestamp", "1700000000.5"),
    ]
    samples = parse_cpu_result(result)
    assert set(samples) == {("shop", "both"), ("shop", "nan")}
    assert samples["shop", "both"].cores == 0.5
    assert samples["shop", "both"].timestamp_s == 1700000000.5
    assert math.isnan(samples["shop", "nan"].cores)


# --- the launcher shared with the demo -------------------------------------------------------


def test_launcher_without_the_binary_points_at_make_test(tmp_path: Path) -> None:
    launcher = PrometheusProcess(binary=tmp_path / "no-prometheus", workdir=tmp_path / "work")
    with pytest.raises(PrometheusProcessError, match="make test"):
        launcher.start()


@pytest.mark.prometheus
def test_launcher_serves_on_loopback_and_stop_removes_its_temporary_directory() -> None:
    launcher = PrometheusProcess(scrape_interval_s=SCRAPE_INTERVAL_S)
    with launcher:
        assert launcher.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{launcher.url}/-/ready", timeout=5.0) as response:
            assert response.status == 200
        launcher.targets.add("127.0.0.1:9", {"role": "example"})
        written = json.loads(launcher.targets.path.read_text())
        assert written == [{"targets": ["127.0.0.1:9"], "labels": {"role": "example"}}]
    assert not launcher.workdir.exists()
    launcher.stop()  # idempotent
