"""``serve --sandbox``: an embedded sandbox cluster, and CPU read straight from it.

Layer: edge (the MCP assistant), the only product-side code that knows the sandbox, so that
anyone can try the tools from their assistant with one command and no Prometheus. The
sandbox runs in this process on a loopback port; the product reaches it through the real
Kubernetes adapter and a kubeconfig, exactly as it would a cluster. ``SandboxMetrics`` is a
MetricsSource that asks the simulation for each ready pod's current usage (the same model
that drives its cAdvisor counters) and measures utilisation with the product's own
``core.utilisation.measure``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from claudescale.config import Settings
from claudescale.core.utilisation import PodSample, measure
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.ports import Clock
from claudescale.sim import Sandbox, SimCluster, SimOptions, load_sim_config, write_kubeconfig
from claudescale.sim.load import per_pod_usage_cores

DEFAULT_SANDBOX_DIR = Path("~/.cache/claudescale/sandbox")


class SandboxMetrics:
    """CPU utilisation of sandbox workloads, from the simulation's own per-pod usage."""

    def __init__(self, sim: SimCluster, clock: Clock) -> None:
        self._sim = sim
        self._clock = clock

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        await anyio.lowlevel.checkpoint()
        self._sim.tick()
        wall = self._clock.wall()
        readings: dict[WorkloadRef, CpuReading] = {}
        for state in workloads:
            ref = state.ref
            pods = self._sim.pods.pods.get((ref.namespace, ref.name), {})
            ready = [p for p in pods.values() if p.ready and not p.terminating]
            demand = self._sim.demand_cores(ref.namespace, ref.name)
            samples = {
                pod.name: PodSample(
                    cores=per_pod_usage_cores(demand, len(ready), pod.limit_cores),
                    timestamp_s=wall,
                )
                for pod in ready
            }
            readings[ref] = measure(state, samples, now_wall_s=wall)
        return readings


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    sim: SimCluster
    url: str
    settings: Settings
    """The caller's settings pointed at the sandbox (cluster, namespaces, state)."""


@asynccontextmanager
async def embedded_sandbox(
    settings: Settings, clock: Clock, *, config_path: Path | None, directory: Path
) -> AsyncIterator[RunningSandbox]:
    """Start the sandbox (the ``sim`` config format; its defaults without a file) on a free
    loopback port; the settings come back pointed at it, with the audit log and the state
    directory under ``directory`` (so the state-directory lock still keeps one executor)."""
    sim = SimCluster(load_sim_config(config_path), clock)
    async with Sandbox(sim, SimOptions()) as sandbox:
        kubeconfig = write_kubeconfig(directory / "kubeconfig", sandbox.url)
        namespaces = tuple(sorted({w.namespace for w in sim.config.workloads}))
        cluster = settings.cluster.model_copy(
            update={"kubeconfig": kubeconfig, "context": None, "namespaces": namespaces}
        )
        audit = settings.audit.model_copy(update={"path": directory / "audit.jsonl"})
        approvals = settings.approvals.model_copy(update={"state_dir": None})
        service = settings.service.model_copy(update={"port": 0})
        pointed = settings.model_copy(
            update={"cluster": cluster, "audit": audit, "approvals": approvals, "service": service}
        )
        yield RunningSandbox(sim, sandbox.url, pointed)
