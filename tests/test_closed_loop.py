"""The closed loop for real: a Prometheus scraping the sandbox over HTTP, the Kubernetes and
Prometheus adapters, the executor and the poll loop, composed by the service.

Timings are scaled down (the scenario of ``claudescale.testing.sandbox``: cooldowns 6 s / 12 s,
a 0.5 s loop, a 4 s rate window) so that the whole story fits in well under a minute; what is
checked is the order and the gates, from the audit log alone.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import verify
from claudescale.testing.harness import read_records
from claudescale.testing.prometheus import PrometheusHarness
from claudescale.testing.sandbox import (
    COOLDOWN_DOWN_S,
    COOLDOWN_UP_S,
    THRESHOLD_PERCENT,
    ConnectCluster,
    StartSandbox,
    has_rates_for,
    loop_settings,
    replicas,
    running_service,
    sandbox_config,
    sandbox_cpu_query,
    wait_until,
)


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
    executed = [
        r for r in read_records(audit_path, "outcome", workload="demo/web") if r["code"] == "ok"
    ]
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
    allowed = [
        r for r in read_records(audit_path, "evaluation", workload="demo/web") if r["code"] == "ok"
    ]
    assert len(allowed) == len(executed)
    for evaluation, outcome in zip(allowed, executed, strict=True):
        assert evaluation["state"]["replicas"] == outcome["from"]
        if outcome in downs:
            assert evaluation["reading"]["percent"] < THRESHOLD_PERCENT
            since_change_s = evaluation["now"] - evaluation["history"]["last_change_at"]
            assert since_change_s >= COOLDOWN_DOWN_S
    cycles = read_records(audit_path, "cycle")
    assert max(c["cpu_peak_percent"] or 0.0 for c in cycles) > 66.0, "the ramp left the band"
