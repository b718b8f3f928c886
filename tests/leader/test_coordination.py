"""What ``run`` opens beside the cluster adapter (``adapters.kubernetes.coordination``): the
elector and the Event recorder as the settings say, sharing one identity; a clean exit
releases the Lease, a crash (the task group cancelled) leaves it to expire."""

from __future__ import annotations

import anyio

from claudescale.adapters.kubernetes.coordination import open_coordination
from claudescale.adapters.system_clock import SystemClock
from claudescale.config.groups import ClusterSettings
from claudescale.sim import Sandbox
from claudescale.sim.resources import LEASES
from claudescale.testing.sandbox import ConnectCluster


def _holder(sandbox: Sandbox) -> str | None:
    lease = sandbox.cluster.store.require(LEASES, "claudescale", "claudescale")
    holder = lease["spec"].get("holderIdentity")
    return None if holder is None else str(holder)


async def test_a_replica_leads_once_open_and_a_clean_exit_releases_the_lease(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox, clock=SystemClock())
    settings = ClusterSettings(leader_election={"identity": "pod-a"})

    async with open_coordination(cluster, settings, SystemClock()) as opened:
        assert opened.leadership is not None and opened.leadership.may_write()
        assert opened.events is not None and opened.identity == "pod-a"
        assert _holder(sandbox) == "pod-a"

    assert _holder(sandbox) is None
    assert not opened.leadership.may_write()


async def test_a_crashed_leader_keeps_the_lease_until_it_expires(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox, clock=SystemClock())
    settings = ClusterSettings(leader_election={"identity": "pod-a"})

    with anyio.CancelScope() as crash:
        async with open_coordination(cluster, settings, SystemClock()):
            crash.cancel()
            await anyio.sleep_forever()

    assert _holder(sandbox) == "pod-a"


async def test_both_can_be_turned_off(sandbox: Sandbox, connect_cluster: ConnectCluster) -> None:
    cluster = await connect_cluster(sandbox)
    settings = ClusterSettings(leader_election={"enabled": False}, events={"enabled": False})

    async with open_coordination(cluster, settings, SystemClock()) as opened:
        assert (opened.leadership, opened.events) == (None, None)
    assert sandbox.cluster.store.list(LEASES) == []
