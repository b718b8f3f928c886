"""Every failure of the Kubernetes adapter is one of claudescale's errors, mapped once:
403 outside the product's role, 401 without the token, 5xx, timeouts, refused connections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.config.groups import ClusterSettings
from claudescale.core.values import WorkloadRef
from claudescale.errors import (
    ClusterError,
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    Unavailable,
)
from claudescale.sim import Sandbox, SimConfig, SimOptions
from claudescale.sim.config import WorkloadSpec
from claudescale.testing.sandbox import ConnectCluster, StartSandbox

WEB = WorkloadRef("demo", "web")


async def test_the_whole_adapter_surface_fits_in_the_product_role(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster
) -> None:
    for keda in (False, True):
        sandbox = await start_sandbox(
            SimConfig(keda=keda), SimOptions(rbac="product", rbac_namespaces=("demo",))
        )
        cluster = await connect_cluster(sandbox)

        listed = await cluster.list_workloads()
        state = await cluster.read_workload(WEB)
        version = await cluster.scale(WEB, 4, state.resource_version)

        assert len(listed) == 2 and state.replicas == 3 and int(version) > 0
        assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 4


async def test_a_namespace_outside_the_role_is_forbidden_naming_it(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster
) -> None:
    config = SimConfig(
        workloads=(
            WorkloadSpec(namespace="demo", name="web"),
            WorkloadSpec(namespace="shop", name="cart"),
        )
    )
    sandbox = await start_sandbox(config, SimOptions(rbac="product", rbac_namespaces=("demo",)))
    cluster = await connect_cluster(sandbox, namespaces=("demo", "shop"))

    with pytest.raises(Forbidden, match="shop") as raised:
        await cluster.list_workloads()
    with pytest.raises(Forbidden):
        await cluster.read_workload(WorkloadRef("shop", "cart"))

    assert not raised.value.retryable
    assert raised.value.__cause__ is not None


async def test_a_missing_or_wrong_bearer_token_is_forbidden(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster
) -> None:
    sandbox = await start_sandbox(options=SimOptions(token="right"))
    wrong = await connect_cluster(sandbox, token="wrong")
    right = await connect_cluster(sandbox, token="right")

    with pytest.raises(Forbidden, match="401"):
        await wrong.read_workload(WEB)
    assert (await right.read_workload(WEB)).replicas == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (409, Conflict),
        (404, NotFound),
        (403, Forbidden),
        (500, Unavailable),
        (503, Unavailable),
        (429, Unavailable),
        (422, ClusterError),
    ],
)
async def test_write_failures_map_to_one_error_each(
    sandbox: Sandbox, connect_cluster: ConnectCluster, status: int, error: type[ClusterError]
) -> None:
    cluster = await connect_cluster(sandbox)
    state = await cluster.read_workload(WEB)
    sandbox.cluster.fail_next_write("demo", "web", status)

    with pytest.raises(ClusterError, match=f"demo/web.*HTTP {status}") as raised:
        await cluster.scale(WEB, 4, state.resource_version)

    assert type(raised.value) is error
    assert raised.value.retryable is (error is Unavailable)
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 3


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers."""
    release = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await release.wait()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    release.set()
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers_is_unavailable_after_the_deadline(
    sandbox: Sandbox, connect_cluster: ConnectCluster, silent_port: int
) -> None:
    cluster = await connect_cluster(sandbox, request_timeout_s=0.3)
    cluster_dead = await connect_cluster(f"http://127.0.0.1:{silent_port}", request_timeout_s=0.3)

    with pytest.raises(Unavailable, match=r"0\.3 s"):
        await cluster_dead.read_workload(WEB)
    assert (await cluster.read_workload(WEB)).replicas == 3


async def test_a_refused_connection_is_unavailable(connect_cluster: ConnectCluster) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    cluster = await connect_cluster(f"http://127.0.0.1:{free_port}")

    with pytest.raises(Unavailable, match="reached") as raised:
        await cluster.list_workloads()

    assert raised.value.retryable


async def test_an_unreadable_kubeconfig_is_a_config_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    settings = ClusterSettings(kubeconfig=tmp_path / "missing", namespaces=("demo",))

    with pytest.raises(ConfigError, match=r"cluster\.kubeconfig"):
        await KubernetesCluster.connect(settings)
