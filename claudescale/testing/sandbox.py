"""The sandbox cluster as tests use it: the shapes of its fixtures, a scaled-down closed-loop
scenario on it, the service running over it, and bounded waits for what a running loop does.

Layer: testing (public). The scenario is ``demo/web`` on 3 pods of 250m with cooldowns of
6 s / 12 s, a 0.5 s loop and a 4 s rate window, so that a whole scale-up and scale-down fits
in well under a minute of real time. ``SimCpu`` reads a sandbox's CPU counters directly, for
tests that step the loop on a manual clock without a Prometheus. Nothing here depends on
pytest; a wait that runs out raises ``AssertionError`` naming what did not happen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.system_clock import SystemClock
from claudescale.config import Settings, parse_settings
from claudescale.core.utilisation import PodSample, measure
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.service import Service
from claudescale.ports import Cluster, MetricsSource
from claudescale.sim import Sandbox, SimCluster, SimConfig
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import Harness
from claudescale.testing.waits import wait_until

__all__ = [
    "COOLDOWN_DOWN_S",
    "COOLDOWN_UP_S",
    "THRESHOLD_PERCENT",
    "ConnectCluster",
    "SimCpu",
    "StartSandbox",
    "has_rates_for",
    "loop_settings",
    "replicas",
    "running_service",
    "sandbox_config",
    "sandbox_cpu_query",
    "wait_until",
]

StartSandbox = Callable[..., Awaitable[Sandbox]]
"""``start_sandbox(config=None, options=None, clock=None, **cluster_kwargs)``: a started
sandbox on 127.0.0.1, stopped after the test."""
SandboxRequest = Callable[..., Awaitable[tuple[int, Any]]]
"""``sandbox_request(sandbox, method, path, body=None, content_type=..., headers=None)``: one
HTTP request to the sandbox under a 5 s deadline; the status and the parsed JSON (or bytes)."""
ConnectCluster = Callable[..., Awaitable[KubernetesCluster]]
"""``connect_cluster(sandbox_or_url, token=None, clock=None, **cluster_settings)``: the
product's Kubernetes adapter, reaching the sandbox only through a kubeconfig."""

PlayDemoStory = Callable[..., Awaitable[Harness[ManualClock, KubernetesCluster]]]
"""``play_demo_story(duration_s, options=None)``: the demo's plan played on the sandbox (CPU
straight from its counters) through the real adapter, loop and executor, one cycle per poll
interval of the manual clock; returns the harness whose audit log tells what happened."""

COOLDOWN_UP_S = 6.0
COOLDOWN_DOWN_S = 12.0
STABILISATION_S = 10.0
THRESHOLD_PERCENT = 40.0
SERVICE_READY_S = 10.0
"""Real seconds the service may take to say it is ready."""


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
    """Autonomous settings for the scenario; ``groups`` update single settings groups."""
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
        # The scale-down stabilisation window scaled down with the cooldowns (300 s by default).
        "loop": {
            "interval_s": 0.5,
            "lookahead_s": 0.0,
            "refused_retry_s": 3.0,
            "scale_down_stabilisation_s": STABILISATION_S,
        },
        "service": {"port": 0, "shutdown_grace_s": 5.0},
    }
    for group, values in groups.items():
        data[group] = {**data.get(group, {}), **values}
    return parse_settings(data)


def replicas(sandbox: Sandbox, name: str = "web") -> int:
    """The replicas a sandbox Deployment in ``demo`` asks for now."""
    return int(sandbox.cluster.deployment("demo", name)["spec"]["replicas"])


def sandbox_cpu_query(namespace: str = "demo") -> str:
    """PromQL counting the sandbox pods that have a CPU rate over the scenario's window."""
    return f'count(rate(container_cpu_usage_seconds_total{{namespace="{namespace}"}}[4s]))'


def has_rates_for(pods: int) -> Callable[[list[dict[str, Any]]], bool]:
    """A predicate on ``sandbox_cpu_query``'s result: at least ``pods`` pods have a rate."""
    return lambda result: bool(result) and float(result[0]["value"][1]) >= pods


@asynccontextmanager
async def running_service(
    settings: Settings, cluster: Cluster, metrics: MetricsSource
) -> AsyncIterator[Service]:
    """The whole service on the real clock, ready when the block starts, stopped at its end."""
    service = Service(settings, cluster=cluster, metrics=metrics, clock=SystemClock())
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(partial(service.run, ready=ready))
        with anyio.fail_after(SERVICE_READY_S):
            await ready.wait()
        try:
            yield service
        finally:
            service.stop()


class SimCpu:
    """A ``MetricsSource`` reading a sandbox's CPU counters directly: each pod's rate since
    the last reading at an earlier time, as Prometheus's ``rate()`` would give over that
    stretch (readings at the same instant, the loop's and the executor's, agree). A pod's
    first reading has no rate yet. Deterministic on a manual clock; no scrape, no server."""

    def __init__(self, sim: SimCluster) -> None:
        self._sim = sim
        self._earlier: dict[tuple[str, str], tuple[float, float]] = {}
        self._latest: dict[tuple[str, str], tuple[float, float]] = {}

    async def probe(self) -> None:
        """``ports.Probe``: the counters are in memory, so always there."""
        await anyio.lowlevel.checkpoint()

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        await anyio.lowlevel.checkpoint()
        now_s, now_wall_s = self._sim.clock.now(), self._sim.clock.wall()
        rates: dict[tuple[str, str], float] = {}
        for namespace, pod, _container, cpu_s in self._sim.cpu_counters():
            key = (namespace, pod)
            latest = self._latest.get(key)
            if latest is not None and latest[0] < now_s:
                self._earlier[key] = latest
            self._latest[key] = (now_s, cpu_s)
            earlier = self._earlier.get(key)
            if earlier is not None:
                rates[key] = (cpu_s - earlier[1]) / (now_s - earlier[0])
        readings: dict[WorkloadRef, CpuReading] = {}
        for state in workloads:
            namespace = state.ref.namespace
            samples = {
                pod.name: PodSample(rates[namespace, pod.name], now_wall_s)
                for pod in state.pods
                if (namespace, pod.name) in rates
            }
            readings[state.ref] = measure(state, samples, now_wall_s=now_wall_s)
        return readings
