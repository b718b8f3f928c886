"""The local sandbox cluster: a loopback HTTP server that speaks the Kubernetes REST API.

Layer: sandbox, for tests, the demo and replay. Product code never imports it (an
import-linter contract says so); it reaches the sandbox only through kubernetes-asyncio.
"""

from claudescale.sim.cluster import SimCluster
from claudescale.sim.config import SimConfig, load_sim_config
from claudescale.sim.kubeconfig import write_kubeconfig
from claudescale.sim.server import Sandbox, SimOptions

__all__ = [
    "Sandbox",
    "SimCluster",
    "SimConfig",
    "SimOptions",
    "load_sim_config",
    "write_kubeconfig",
]
