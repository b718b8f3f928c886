"""The closed loop for real: a Prometheus scraping the sandbox over HTTP, the Kubernetes and
Prometheus adapters, the executor and the poll loop, composed by the service.

Timings are scaled down (cooldowns 6 s / 12 s, a 0.5 s loop, a 4 s rate window) so that the
whole story fits in well under a minute; what is checked is the order and the gates, from
the audit log alone.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import iter_records, verify
from claudescale.config import Settings, parse_settings
from claudescale.engine.service import Service
from claudescale.ports import Cluster, MetricsSource
from claudescale.sim import Sandbox, SimConfig
from tests.k8s_fixtures import ConnectCluster, StartSandbox
from tests.prometheus_fixture import PrometheusHarness

COOLDOWN_UP_S = 6.0
COOLDOWN_DOWN_S = 12.0
THRESHOLD_PERCENT = 40.0


def sandbox_config(**overrides: Any) -> SimConfig:
    """demo/web on 3 pods of 250m, idle at 0.2 cores (27%: the minimum of 3 holds)."""
    return SimConfig.model_validate(
        {
            "startup_delay_s": 1.0,
            "termination_grace_s": 0.5,
            "namespaces": ["demo"],
            "phases": {"idle_cores": 0.2, "ramp_to_cores": 1.5, "ramp_s": 10.0, "drain_s": 2.0},
            "workloads": [{"namespace": "demo", "name": "web", "replicas": 3}],
            **overrides,
        }
    )


def loop_settings(prometheus_url: str, audit_path: Path, **groups: Any) -> Settings:
    data: dict[str, Any] = {
        "mode": "autonomous",
        "guardrails": {
            "min_replicas": 3,
            "max_replicas": 5,
            "cooldown_up_s": COOLDOWN_UP_S,
            "cooldown_down_s": COOLDOWN_DOWN_S,
            "scale_down_cpu_below_percent": THRESHOLD_PERCENT,
        },
        "prometheus": {
            "url": prometheus_url,
            "rate_window": "4s",
            "scrape_interval_s": 1.0,
            "query_timeout_s": 3.0,
        },
        "cluster": {"namespaces": ["demo"], "request_timeout_s": 5.0},
        "audit": {"path": str(audit_path)},
        "loop": {"interval_s": 0.5, "lookahead_s": 0.0, "refused_retry_s": 3.0},
        "service": {"port": 0, "shutdown_grace_s": 5.0},
    }
    for group, values in groups.items():
        data[group] = {**data.get(group, {}), **values}
    return parse_settings(data)


@asynccontextmanager
async def running_service(
    settings: Settings, cluster: Cluster, metrics: MetricsSource
) -> AsyncIterator[Service]:
    service = Service(settings, cluster=cluster, metrics=metrics, clock=SystemClock())
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(partial(service.run, ready=ready))
        with anyio.fail_after(10):
            await ready.wait()
        try:
            yield service
        finally:
            service.stop()


async def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition the running loop will make true; fail naming ``what`` otherwise."""
    try:
        with anyio.fail_after(timeout_s):
            while not condition():  # noqa: ASYNC110 - the sandbox exposes no event for this
                await anyio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"Within {timeout_s:g} s, {what} did not happen.")


def replicas(sandbox: Sandbox, name: str = "web") -> int:
    return int(sandbox.cluster.deployment("demo", name)["spec"]["replicas"])


def sandbox_cpu_query(namespace: str = "demo") -> str:
    return f'count(rate(container_cpu_usage_seconds_total{{namespace="{namespace}"}}[4s]))'


def has_rates_for(pods: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda result: bool(result) and float(result[0]["value"][1]) >= pods


def records(path: Path, kind: str, workload: str = "demo/web") -> list[dict[str, Any]]:
    return [r for r in iter_records(path) if r["kind"] == kind and r.get("workload") == workload]


@pytest.mark.prometheus
@pytest.mark.slow
async def test_a_load_step_scales_up_and_a_drain_scales_down_one_replica_at_a_time(
    prometheus: PrometheusHarness,
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    tmp_path: Path,
) -> None:
    sandbox = await start_sandbox(sandbox_config(), clock=SystemClock())
    address = f"127.0.0.1:{sandbox.port}"
    audit_path = tmp_path / "audit.jsonl"
    with prometheus.scraping(address):
        await anyio.to_thread.run_sync(
            lambda: prometheus.wait_for(sandbox_cpu_query(), has_rates_for(3))
        )
        cluster = await connect_cluster(sandbox, clock=SystemClock())
        settings = loop_settings(prometheus.url, audit_path)
        metrics = PrometheusMetrics(settings.prometheus, SystemClock())
        async with running_service(settings, cluster, metrics) as service:
            await wait_until(lambda: service.controller.status().seen_cycles >= 3, 10, "seeing")
            assert replicas(sandbox) == 3
            sandbox.cluster.set_load("demo", "web", phase="ramp")
            await wait_until(lambda: replicas(sandbox) == 5, 30, "a scale-up to 5")
            sandbox.cluster.set_load("demo", "web", phase="drain")
            await wait_until(lambda: replicas(sandbox) == 3, 45, "the scale-down back to 3")

    assert verify(audit_path).ok
    executed = [r for r in records(audit_path, "outcome") if r["code"] == "ok"]
    moves = [(r["from"], r["to"]) for r in executed]
    ups = [r for r in executed if r["to"] > r["from"]]
    downs = [r for r in executed if r["to"] < r["from"]]
    assert moves == [(r["from"], r["to"]) for r in ups + downs], "ups all come before downs"
    assert [(r["from"], r["to"]) for r in downs] == [(5, 4), (4, 3)]
    for earlier, later in itertools.pairwise(ups):
        assert later["mono"] - earlier["mono"] >= COOLDOWN_UP_S
    for earlier, later in itertools.pairwise(executed):
        if later in downs:
            assert later["mono"] - earlier["mono"] >= COOLDOWN_DOWN_S
    allowed = [r for r in records(audit_path, "evaluation") if r["code"] == "ok"]
    assert len(allowed) == len(executed)
    for evaluation, outcome in zip(allowed, executed, strict=True):
        assert evaluation["state"]["replicas"] == outcome["from"]
        if outcome in downs:
            assert evaluation["reading"]["percent"] < THRESHOLD_PERCENT
            since_change_s = evaluation["now"] - evaluation["history"]["last_change_at"]
            assert since_change_s >= COOLDOWN_DOWN_S
    cycles = [r for r in iter_records(audit_path) if r["kind"] == "cycle"]
    assert max(c["cpu_peak_percent"] or 0.0 for c in cycles) > 66.0, "the ramp left the band"
