"""Leader election on a Lease (``adapters.kubernetes.lease``) against the sandbox, step by
step on a manual clock: one leader at a time, a leader that cannot renew stops writing
before anyone else may acquire the Lease, and the other takes over once it expired."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from claudescale.adapters.kubernetes.lease import LeaseElector
from claudescale.config.coordination import LeaderElectionSettings
from claudescale.sim import Sandbox, SimConfig, SimOptions
from claudescale.sim.resources import LEASES
from claudescale.testing.clock import ManualClock
from claudescale.testing.sandbox import ConnectCluster, StartSandbox

LEASE_DURATION_S, RENEW_DEADLINE_S, RETRY_PERIOD_S = 15.0, 10.0, 2.0
NewElector = Callable[[str], Awaitable[LeaseElector]]


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> Sandbox:
    return await start_sandbox(SimConfig.model_validate({"namespaces": ["demo", "claudescale"]}))


@pytest.fixture
def elector(sandbox: Sandbox, connect_cluster: ConnectCluster, sim_clock: ManualClock) -> Any:
    settings = LeaderElectionSettings(
        lease_duration_s=LEASE_DURATION_S,
        renew_deadline_s=RENEW_DEADLINE_S,
        retry_period_s=RETRY_PERIOD_S,
    )

    async def new(identity: str) -> LeaseElector:
        cluster = await connect_cluster(sandbox, clock=sim_clock)
        return LeaseElector(cluster, settings, sim_clock, identity=identity)

    return new


def _holder(sandbox: Sandbox) -> str:
    lease = sandbox.cluster.store.require(LEASES, "claudescale", "claudescale")
    return str(lease["spec"].get("holderIdentity") or "")


async def test_the_first_replica_acquires_the_lease_and_the_second_follows(
    elector: NewElector, sandbox: Sandbox
) -> None:
    a, b = await elector("pod-a"), await elector("pod-b")

    assert await a.step() is True
    assert await b.step() is False
    assert (a.may_write(), b.may_write()) == (True, False)
    assert _holder(sandbox) == "pod-a" and b.holder == "pod-a"


async def test_a_leader_that_keeps_renewing_keeps_the_lease(
    elector: NewElector, sandbox: Sandbox, sim_clock: ManualClock
) -> None:
    a, b = await elector("pod-a"), await elector("pod-b")
    await a.step()
    for _ in range(20):
        sim_clock.advance(RETRY_PERIOD_S)
        await a.step()
        await b.step()
        assert (a.may_write(), b.may_write()) == (True, False)
    assert _holder(sandbox) == "pod-a"


async def test_a_leader_that_cannot_renew_stops_writing_before_another_can_acquire(
    elector: NewElector, sandbox: Sandbox, sim_clock: ManualClock
) -> None:
    a, b = await elector("pod-a"), await elector("pod-b")
    await a.step()
    await b.step()  # b sees a's renewal now; a then never renews again (partitioned, stuck)
    start = sim_clock.now()
    a_writes_until = b_writes_from = None
    while b_writes_from is None:
        sim_clock.advance(0.5)
        await b.step()
        t = sim_clock.now() - start
        assert not (a.may_write() and b.may_write()), f"two writers at {t} s"
        if a.may_write():
            a_writes_until = t
        if b.may_write():
            b_writes_from = t
        assert t <= LEASE_DURATION_S + RETRY_PERIOD_S, "b never took over"

    assert a_writes_until == RENEW_DEADLINE_S - 0.5
    assert b_writes_from == LEASE_DURATION_S
    assert _holder(sandbox) == "pod-b"


async def test_a_deposed_leader_sees_the_new_holder_and_stays_a_follower(
    elector: NewElector, sandbox: Sandbox, sim_clock: ManualClock
) -> None:
    a, b = await elector("pod-a"), await elector("pod-b")
    await a.step()
    await b.step()
    sim_clock.advance(LEASE_DURATION_S)
    await b.step()

    assert await a.step() is False
    assert (a.may_write(), b.may_write()) == (False, True)
    lease = sandbox.cluster.store.require(LEASES, "claudescale", "claudescale")
    assert lease["spec"]["leaseTransitions"] == 1


async def test_two_replicas_racing_for_the_lease_elect_exactly_one(
    elector: NewElector, sandbox: Sandbox
) -> None:
    replicas = [await elector(f"pod-{n}") for n in range(4)]
    won: list[bool] = []

    async def campaign(replica: LeaseElector) -> None:
        won.append(await replica.step())

    async with anyio.create_task_group() as tg:
        for replica in replicas:
            tg.start_soon(campaign, replica)

    assert won.count(True) == 1
    assert [r.identity for r in replicas if r.may_write()] == [_holder(sandbox)]


async def test_a_released_lease_is_taken_over_at_once(
    elector: NewElector, sandbox: Sandbox
) -> None:
    a, b = await elector("pod-a"), await elector("pod-b")
    await a.step()
    await b.step()

    await a.release()

    assert a.may_write() is False
    assert await b.step() is True
    assert _holder(sandbox) == "pod-b"


async def test_a_replica_that_may_not_touch_the_lease_never_writes_and_says_so_once(
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    sim_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = await start_sandbox(options=SimOptions(rbac="product"))
    cluster = await connect_cluster(sandbox, clock=sim_clock)
    settings = LeaderElectionSettings(lease_namespace="demo")  # the Role grants claudescale's
    replica = LeaseElector(cluster, settings, sim_clock, identity="pod-a")

    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert await replica.step() is False
            sim_clock.advance(RETRY_PERIOD_S)

    assert not replica.may_write()
    [line] = [r for r in caplog.records if getattr(r, "event", "") == "lease_unavailable"]
    assert "forbidden" in line.getMessage().lower() and "does not write" in line.getMessage()
