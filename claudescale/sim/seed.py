"""Seeding the sandbox from its configuration file.

Layer: sandbox. Uses only SimCluster's in-memory API, as a test or the demo would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudescale.sim.config import SimConfig, WorkloadSpec
from claudescale.sim.rbac import PRODUCT_NAMESPACE

if TYPE_CHECKING:
    from claudescale.sim.cluster import SimCluster


def populate(cluster: SimCluster, config: SimConfig) -> None:
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


def _workload(cluster: SimCluster, spec: WorkloadSpec, ready: bool) -> None:
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
