"""Two whole services against one sandbox, each with its own audit log, electing a leader on
one Lease: only the leader writes, the follower's executor refuses with a clear verdict, and
when the leader is killed (its task group cancelled, the Lease not released) the other takes
over once the Lease expired, and never while the dead leader could still have written.

Real time, scaled down: a 3 s lease, a 2 s renew deadline, a 0.5 s retry period."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.kubernetes.lease import LeaseElector
from claudescale.adapters.system_clock import SystemClock
from claudescale.config.coordination import LeaderElectionSettings
from claudescale.engine.leadership import NOT_LEADER
from claudescale.engine.service import Service
from claudescale.sim import Sandbox
from claudescale.testing.harness import read_records
from claudescale.testing.sandbox import (
    ConnectCluster,
    SimCpu,
    StartSandbox,
    loop_settings,
    replicas,
    sandbox_config,
    wait_until,
)

LEASE = LeaderElectionSettings(lease_duration_s=3.0, renew_deadline_s=2.0, retry_period_s=0.5)
SAMPLE_S = 0.05
LOOP_INTERVAL_S = 0.5
"""``loop_settings``'s poll interval."""


class WatchedElector(LeaseElector):
    """Remembers when it first allowed a write: the executor asks just before each one."""

    first_allowed_at: float | None = None

    def may_write(self) -> bool:
        allowed = super().may_write()
        if allowed and self.first_allowed_at is None:
            self.first_allowed_at = time.monotonic()
        return allowed


@dataclass
class Replica:
    name: str
    elector: WatchedElector
    service: Service
    audit_path: Path
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    ready: anyio.Event = field(default_factory=anyio.Event)

    async def run(self) -> None:
        with self.scope:
            async with anyio.create_task_group() as tg:
                await tg.start(self.elector.run)
                await self.service.run(ready=self.ready)

    def kill(self) -> None:
        """As a crash: everything stops at once and the Lease is not released."""
        self.scope.cancel()


async def _replica(
    name: str, sandbox: Sandbox, connect_cluster: ConnectCluster, directory: Path
) -> Replica:
    clock = SystemClock()
    cluster = await connect_cluster(sandbox, clock=clock)
    audit_path = directory / name / "audit.jsonl"
    settings = loop_settings("http://127.0.0.1:1", audit_path, loop={"lookahead_s": 0.0})
    elector = WatchedElector(cluster, LEASE, clock, identity=name)
    service = Service(
        settings, cluster=cluster, metrics=SimCpu(sandbox.cluster), clock=clock, leadership=elector
    )
    return Replica(name, elector, service, audit_path)


@pytest.mark.slow
async def test_only_the_leader_writes_and_the_follower_takes_over_once_the_lease_expired(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster, tmp_path: Path
) -> None:
    config = sandbox_config(namespaces=["demo", "claudescale"])
    sandbox = await start_sandbox(config, clock=SystemClock())
    a = await _replica("pod-a", sandbox, connect_cluster, tmp_path)
    b = await _replica("pod-b", sandbox, connect_cluster, tmp_path)
    both_wrote: list[float] = []
    b_leads_since: list[float] = []
    killed_at = 0.0

    async def watch_leaders() -> None:
        while True:
            if a.elector.may_write() and b.elector.may_write():
                both_wrote.append(time.monotonic())
            if b.elector.may_write() and not b_leads_since:
                b_leads_since.append(time.monotonic())
            await anyio.sleep(SAMPLE_S)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_leaders)
        tg.start_soon(a.run)
        await wait_until(a.elector.may_write, 10, "pod-a leading")
        tg.start_soon(b.run)
        with anyio.fail_after(10):
            await a.ready.wait()
            await b.ready.wait()
        sandbox.cluster.set_load("demo", "web", cores=0.5)  # 67 % of 3 pods: 4 wanted
        await wait_until(lambda: replicas(sandbox) == 4, 20, "pod-a scaling up to 4")
        await wait_until(
            lambda: any(NOT_LEADER in r["message"] for r in read_records(b.audit_path, "verdict")),
            20,
            "pod-b refusing as a follower",
        )
        a.kill()
        killed_at = time.monotonic()
        sandbox.cluster.set_load("demo", "web", cores=0.8)  # 80 % of 4 pods: 5 wanted
        await wait_until(lambda: replicas(sandbox) == 5, 30, "pod-b scaling up to 5")
        b.service.stop()
        await wait_until(lambda: not b.service.report().alive, 10, "pod-b stopping")
        tg.cancel_scope.cancel()
    a.service.executor.close()  # a crashed process's queue would go with it

    assert both_wrote == [], "the two replicas could both write at once"
    [b_leads_at] = b_leads_since
    took_over_s = b_leads_at - killed_at
    # a's last renewal was at most a retry period before the kill; b waits the whole lease
    # duration after it saw that renewal, and then at most one retry period to try again.
    assert LEASE.lease_duration_s - LEASE.retry_period_s <= took_over_s
    assert took_over_s <= LEASE.lease_duration_s + LEASE.retry_period_s + 0.5

    a_writes = [r for r in read_records(a.audit_path, "outcome") if r["code"] == "ok"]
    b_intents = read_records(b.audit_path, "intent")
    b_writes = [r for r in read_records(b.audit_path, "outcome") if r["code"] == "ok"]
    assert [(r["from"], r["to"]) for r in a_writes] == [(3, 4)]
    assert [(r["from"], r["to"]) for r in b_writes] == [(4, 5)]
    assert all(r["mono"] < killed_at for r in a_writes)
    # Sampling every 50 ms can see b's leadership after its first write under load; the
    # elector's own first "yes" is what the executor asked before writing.
    b_first_allowed = b.elector.first_allowed_at
    assert b_first_allowed is not None and b_first_allowed >= killed_at
    assert all(r["mono"] >= b_first_allowed for r in b_intents), "pod-b began a write as follower"
    # A follower's refusal does not hold the direction back: once leading, it acts at once.
    assert b_writes[0]["mono"] - b_leads_at <= 4 * LOOP_INTERVAL_S
    refusals = [r for r in read_records(b.audit_path, "verdict") if NOT_LEADER in r["message"]]
    assert refusals and all(r["code"] == "not_leader" for r in refusals)
    assert all(r["mono"] < b_leads_at for r in refusals)
