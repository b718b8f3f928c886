"""A real Prometheus (Debian's, started once per session) scrapes the sandbox's cAdvisor-style
counters, and rate() over them gives each ready pod its share of the demanded cores."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from claudescale.adapters.system_clock import SystemClock
from claudescale.testing.prometheus import PrometheusHarness
from claudescale.testing.sandbox import StartSandbox

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


async def test_prometheus_rate_shows_the_demand_split_over_ready_pods(
    prometheus: PrometheusHarness, start_sandbox: StartSandbox
) -> None:
    sandbox = await start_sandbox(clock=SystemClock())
    sandbox.cluster.set_load("demo", "web", cores=1.5)
    query = 'rate(container_cpu_usage_seconds_total{namespace="demo",pod=~"web-.*"}[4s])'

    def three_at_half_a_core(result: list[dict[str, Any]]) -> bool:
        values = [float(series["value"][1]) for series in result]
        return len(values) == 3 and all(abs(v - 0.5) < 0.05 for v in values)

    with prometheus.scraping(f"127.0.0.1:{sandbox.port}"):
        with anyio.fail_after(60):
            result = await anyio.to_thread.run_sync(
                lambda: prometheus.wait_for(query, three_at_half_a_core, timeout_s=45.0)
            )

    assert {series["metric"]["container"] for series in result} == {"app"}
