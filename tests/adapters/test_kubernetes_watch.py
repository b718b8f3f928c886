"""The workload cache against the sandbox over real HTTP: a cycle's list comes from memory,
changes by someone else arrive at once and wake the loop, and the cache survives streams the
server ends or aborts, 410 Gone and deletions, but refuses to answer once it is stale."""

from __future__ import annotations

import contextlib
import socket
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.kubernetes.watch import INITIAL_BACKOFF_S
from claudescale.config import parse_settings
from claudescale.config.groups import ClusterSettings
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.service import Service
from claudescale.errors import Unavailable
from claudescale.ports import ChangeFeed
from claudescale.sim import Sandbox, SimConfig, SimOptions, write_kubeconfig
from claudescale.testing.clock import ManualClock
from claudescale.testing.sandbox import ConnectCluster, StartSandbox, wait_until

WEB = WorkloadRef("demo", "web")
API = WorkloadRef("demo", "api")
WAIT_S = 5.0
"""Real seconds any one thing the watch should bring may take."""
STALE_AFTER_S = 30.0


class HeldClock(ManualClock):
    """A ManualClock whose sleeps (the informers' backoffs) last until the test advances
    time past them (or for ever, when ``frozen``); it remembers every sleep."""

    def __init__(self, *, frozen: bool = False) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self._frozen = frozen
        self._moved = anyio.Event()
        self._slept = anyio.Event()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        moved, self._moved = self._moved, anyio.Event()
        moved.set()

    async def sleep(self, seconds: float) -> None:
        until = self.now() + seconds
        self.sleeps.append(seconds)
        slept, self._slept = self._slept, anyio.Event()
        slept.set()
        while self._frozen or self.now() < until:
            await self._moved.wait()

    async def wait_for_sleeps(self, seconds: float, count: int) -> None:
        """Return once ``count`` sleeps of ``seconds`` began (informers backing off)."""
        while self.sleeps.count(seconds) < count:
            await self._slept.wait()


@contextlib.asynccontextmanager
async def opened(
    target: Sandbox | str, tmp_path: Path, clock: HeldClock, **settings: Any
) -> AsyncIterator[tuple[KubernetesCluster, MemoryObjectReceiveStream[WorkloadRef]]]:
    """The adapter with its cache running, and the refs its change feed reports."""
    url = target if isinstance(target, str) else target.url
    values: dict[str, Any] = {
        "kubeconfig": write_kubeconfig(tmp_path / "kubeconfig", url),
        "namespaces": ("demo",),
        "request_timeout_s": 5.0,
        "cache_stale_after_s": STALE_AFTER_S,
        **settings,
    }
    send, receive = anyio.create_memory_object_stream[WorkloadRef](100)
    async with KubernetesCluster.open(ClusterSettings(**values), clock) as cluster, send, receive:
        cluster.subscribe(send.send_nowait)
        yield cluster, receive


class NoMetrics:
    """A MetricsSource with no readings: the loop sees workloads and proposes nothing."""

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        return {}


async def changed(changes: MemoryObjectReceiveStream[WorkloadRef], count: int = 1) -> list[str]:
    with anyio.fail_after(WAIT_S):
        return sorted([str(await changes.receive()) for _ in range(count)])


def refused_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def replicas_of(states: Any) -> dict[str, int]:
    return {str(s.ref): s.replicas for s in states}


async def test_a_cycle_lists_from_memory_once_the_cache_has_synced(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = await start_sandbox(
        SimConfig(keda=True), SimOptions(rbac="product", rbac_namespaces=("demo",))
    )
    sandbox.cluster.create_hpa("demo", "web-hpa", target="web")
    sandbox.cluster.create_deployment("demo", "worker", 2, enabled=False)
    async with opened(sandbox, tmp_path, HeldClock()) as (cluster, _):
        first = await cluster.list_workloads()  # waits for the first lists
        with anyio.fail_after(WAIT_S):
            await sandbox.wait_for_watches(4)
        requests, lists = sandbox.requests_served, cluster.cache.lists
        again = [await cluster.list_workloads() for _ in range(3)]

    assert (sandbox.requests_served, cluster.cache.lists) == (requests, lists)
    assert lists == 4  # Deployments, pods, HPAs and ScaledObjects of demo, once each
    assert all(states == first for states in again)
    assert replicas_of(first) == {"demo/api": 2, "demo/web": 3}
    web = next(s for s in first if s.ref == WEB)
    assert (len(web.pods), web.owner, web.managed) == (3, "HorizontalPodAutoscaler/web-hpa", True)


async def test_a_replica_change_by_someone_else_is_seen_at_once_and_reported(
    sandbox: Sandbox, connect_cluster: ConnectCluster, tmp_path: Path
) -> None:
    someone_else = await connect_cluster(sandbox)
    async with opened(sandbox, tmp_path, HeldClock()) as (cluster, changes):
        await cluster.list_workloads()
        lists = cluster.cache.lists
        before = await someone_else.read_workload(WEB)
        await someone_else.scale(WEB, 5, before.resource_version)

        assert await changed(changes) == ["demo/web"]
        assert replicas_of(await cluster.list_workloads())["demo/web"] == 5
        assert cluster.cache.lists == lists
        assert isinstance(cluster, ChangeFeed)


async def test_the_adapters_own_scale_is_not_reported_as_a_change(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with opened(sandbox, tmp_path, HeldClock()) as (cluster, changes):
        await cluster.list_workloads()
        before = await cluster.read_workload(WEB)
        await cluster.scale(WEB, 4, before.resource_version)
        sandbox.cluster.set_replicas("demo", "api", 3)

        assert await changed(changes) == ["demo/api"]
        assert replicas_of(await cluster.list_workloads()) == {"demo/api": 3, "demo/web": 4}


async def test_a_deleted_deployment_disappears_from_the_list(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with opened(sandbox, tmp_path, HeldClock()) as (cluster, changes):
        await cluster.list_workloads()
        sandbox.cluster.delete_deployment("demo", "web")

        assert await changed(changes) == ["demo/web"]
        assert replicas_of(await cluster.list_workloads()) == {"demo/api": 2}


async def test_a_stream_the_server_ends_resumes_without_relisting(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    clock = HeldClock()
    async with opened(sandbox, tmp_path, clock) as (cluster, changes):
        await cluster.list_workloads()
        with anyio.fail_after(WAIT_S):
            await sandbox.wait_for_watches(3)
        lists, started = cluster.cache.lists, sandbox.watches_started
        assert sandbox.drop_watches(abrupt=False) == 3
        sandbox.cluster.set_replicas("demo", "web", 2)

        assert await changed(changes) == ["demo/web"]
        assert cluster.cache.lists == lists and sandbox.watches_started > started
        assert INITIAL_BACKOFF_S not in clock.sleeps


async def test_an_aborted_stream_relists_after_a_backoff_and_catches_up(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    clock = HeldClock()
    async with opened(sandbox, tmp_path, clock) as (cluster, changes):
        await cluster.list_workloads()
        with anyio.fail_after(WAIT_S):
            await sandbox.wait_for_watches(3)
            lists = cluster.cache.lists
            assert sandbox.drop_watches(abrupt=True) == 3
            await clock.wait_for_sleeps(INITIAL_BACKOFF_S, 3)
        sandbox.cluster.set_replicas("demo", "api", 4)
        clock.advance(INITIAL_BACKOFF_S)

        assert await changed(changes) == ["demo/api"]
        assert replicas_of(await cluster.list_workloads())["demo/api"] == 4
        assert cluster.cache.lists > lists


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-410"])
async def test_410_gone_relists_and_reports_only_the_differences(
    start_sandbox: StartSandbox, tmp_path: Path, as_status: bool
) -> None:
    sandbox = await start_sandbox(options=SimOptions(watch_expired_as_status=as_status))
    async with opened(sandbox, tmp_path, HeldClock()) as (cluster, changes):
        await cluster.list_workloads()
        with anyio.fail_after(WAIT_S):
            await sandbox.wait_for_watches(3)
        lists = cluster.cache.lists
        sandbox.cluster.set_replicas("demo", "web", 5)
        sandbox.cluster.delete_deployment("demo", "api")
        sandbox.cluster.store.compact()
        sandbox.drop_watches(abrupt=False)

        assert await changed(changes, 2) == ["demo/api", "demo/web"]
        assert replicas_of(await cluster.list_workloads()) == {"demo/web": 5}
        assert cluster.cache.lists > lists
        sandbox.cluster.set_replicas("demo", "web", 2)
        assert await changed(changes) == ["demo/web"]


async def test_a_watch_down_longer_than_the_bound_makes_listing_unavailable(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    clock = HeldClock(frozen=True)  # the informers never get to relist
    async with opened(sandbox, tmp_path, clock) as (cluster, _):
        await cluster.list_workloads()
        with anyio.fail_after(WAIT_S):
            await sandbox.wait_for_watches(3)
            assert sandbox.drop_watches(abrupt=True) == 3
            await clock.wait_for_sleeps(INITIAL_BACKOFF_S, 3)
        within_bound = await cluster.list_workloads()
        clock.advance(STALE_AFTER_S + 1)

        with pytest.raises(Unavailable, match="no working watch") as raised:
            await cluster.list_workloads()

    assert replicas_of(within_bound) == {"demo/api": 2, "demo/web": 3}
    assert raised.value.retryable and "demo" in str(raised.value)


async def test_the_backoff_doubles_up_to_its_bound_while_the_server_is_away(
    tmp_path: Path,
) -> None:
    clock = HeldClock()
    async with opened(refused_url(), tmp_path, clock, watch_backoff_max_s=1.0):
        begun: Counter[float] = Counter()
        with anyio.fail_after(WAIT_S):
            for step_s in (0.2, 0.4, 0.8, 1.0, 1.0):
                begun[step_s] += 4  # the Deployment, pod, HPA and ScaledObject informers
                await clock.wait_for_sleeps(step_s, begun[step_s])
                clock.advance(step_s)
            await clock.wait_for_sleeps(1.0, begun[1.0] + 4)

    assert Counter(clock.sleeps) == {0.2: 4, 0.4: 4, 0.8: 4, 1.0: 12}


async def test_before_the_first_sync_listing_waits_its_deadline_then_is_unavailable(
    tmp_path: Path,
) -> None:
    settings = {"cache_sync_timeout_s": 0.3}
    async with opened(refused_url(), tmp_path, HeldClock(), **settings) as (cluster, _):
        with anyio.fail_after(WAIT_S), pytest.raises(Unavailable, match="first list") as raised:
            await cluster.list_workloads()

    assert "Deployments in demo" in str(raised.value) and "reached" in str(raised.value)


async def test_the_service_starts_a_cycle_at_once_when_someone_else_scales(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    clock = HeldClock()  # the loop's hour-long pause ends only when something wakes it
    settings = parse_settings(
        {
            "audit": {"path": str(tmp_path / "audit.jsonl")},
            "loop": {"interval_s": 3600},
            "service": {"port": 0},
        }
    )
    async with opened(sandbox, tmp_path, clock) as (cluster, _):
        service = Service(settings, cluster=cluster, metrics=NoMetrics(), clock=clock)
        status = service.controller.status
        async with anyio.create_task_group() as group:
            ready = anyio.Event()
            group.start_soon(partial(service.run, ready=ready))
            with anyio.fail_after(WAIT_S):
                await ready.wait()
            await wait_until(lambda: status().seen_cycles == 1, WAIT_S, "the first cycle")
            sandbox.cluster.set_replicas("demo", "web", 6)
            await wait_until(lambda: status().cycles == 2, WAIT_S, "a cycle on the change")
            service.stop()
