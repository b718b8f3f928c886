"""Seeding the sandbox from its configuration file.

Layer: sandbox. Uses only SimCluster's in-memory API, as a test or the demo would (what of
it, ``Seedable`` says; SimCluster seeds itself with ``populate`` when it is made).
"""

from __future__ import annotations

from typing import Any, Protocol

from claudescale.ports import Clock
from claudescale.sim.config import SimConfig, WorkloadSpec
from claudescale.sim.rbac import PRODUCT_NAMESPACE
from claudescale.sim.usage import CpuLedger


class Seedable(Protocol):
    """What seeding uses of ``SimCluster``."""

    @property
    def clock(self) -> Clock: ...
    @property
    def cpu(self) -> CpuLedger: ...
    def create_namespace(self, name: str) -> Any: ...
    def create_deployment(self, *args: Any, **kwargs: Any) -> Any: ...
    def create_hpa(self, namespace: str, name: str, target: str) -> Any: ...
    def create_scaled_object(self, namespace: str, name: str, target: str) -> Any: ...


def populate(cluster: Seedable, config: SimConfig) -> None:
    """Create what the sandbox file describes: namespaces, workloads (with their loads),
    HPAs and ScaledObjects; and claudescale's own namespace, where its leader-election Lease
    lives, as in a cluster it was installed in."""
    for namespace in (*config.namespaces, PRODUCT_NAMESPACE):
        cluster.create_namespace(namespace)
    for spec in config.workloads:
        _workload(cluster, spec, config.initial_pods_ready)
    for hpa in config.hpas:
        cluster.create_hpa(hpa.namespace, hpa.name, hpa.target)
    for scaled in config.scaled_objects:
        cluster.create_scaled_object(scaled.namespace, scaled.name, scaled.target)


def _workload(cluster: Seedable, spec: WorkloadSpec, ready: bool) -> None:
    cluster.create_deployment(
        spec.namespace,
        spec.name,
        spec.replicas,
        enabled=spec.enabled,
        labels=spec.labels,
        annotations=spec.annotations,
        cpu_request=spec.cpu_request,
        cpu_limit=spec.cpu_limit,
        pods_ready=ready,
    )
    if spec.cores is not None or spec.phase != "idle":
        cluster.cpu.set_load(
            (spec.namespace, spec.name),
            cluster.clock.now(),
            None if spec.cores is not None else spec.phase,
            spec.cores,
        )
