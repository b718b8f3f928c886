"""The sandbox cluster for tests: started on 127.0.0.1 port 0 inside the test's event loop.

``start_sandbox(...)`` starts one (any SimConfig, SimOptions, clock) and stops it after the
test; ``sandbox`` is the default one (namespace ``demo`` with ``web`` 3 and ``api`` 2) on a
ManualClock. ``connect_cluster(sandbox, ...)`` gives a KubernetesCluster (the product's
adapter) that reaches it only through a kubeconfig, as it would a real cluster.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.config import ClusterSettings
from claudescale.sim import Sandbox, SimCluster, SimConfig, SimOptions, write_kubeconfig
from claudescale.testing.clock import ManualClock

StartSandbox = Callable[..., Awaitable[Sandbox]]
ConnectCluster = Callable[..., Awaitable[KubernetesCluster]]


@pytest.fixture
def sim_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def start_sandbox(sim_clock: ManualClock) -> AsyncIterator[StartSandbox]:
    started: list[Sandbox] = []

    async def start(
        config: SimConfig | None = None,
        options: SimOptions | None = None,
        clock: Any = None,
        **cluster_kwargs: Any,
    ) -> Sandbox:
        cluster = SimCluster(config, clock or sim_clock, **cluster_kwargs)
        sandbox = Sandbox(cluster, options)
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        await sandbox.stop()


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> Sandbox:
    return await start_sandbox()


@pytest.fixture
async def connect_cluster(tmp_path: Path) -> AsyncIterator[ConnectCluster]:
    opened: list[KubernetesCluster] = []

    async def connect(
        target: Sandbox | str, token: str | None = None, clock: Any = None, **settings: Any
    ) -> KubernetesCluster:
        """A cluster adapter for a sandbox, or for any URL (a port that never answers...)."""
        url = target if isinstance(target, str) else target.url
        if token is None and isinstance(target, Sandbox):
            token = target.options.token
        path = write_kubeconfig(tmp_path / f"kubeconfig-{len(opened)}", url, token)
        values: dict[str, Any] = {
            "kubeconfig": path,
            "namespaces": ("demo",),
            "request_timeout_s": 5.0,
            **settings,
        }
        cluster = await KubernetesCluster.connect(ClusterSettings(**values), clock)
        opened.append(cluster)
        return cluster

    yield connect
    for cluster in opened:
        await cluster.aclose()
