"""The Deployment watch against the sandbox: it keeps going when the server drops the stream,
aborts the connection, forgets history (410 Gone) or goes away for a while."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from claudescale.adapters.kubernetes.watch import (
    ChangeType,
    WorkloadChange,
    WorkloadView,
    watch_deployments,
)
from claudescale.core.values import WorkloadRef
from claudescale.sim import Sandbox, SimOptions
from claudescale.testing.clock import ManualClock
from tests.k8s_fixtures import ConnectCluster, StartSandbox

Changes = MemoryObjectReceiveStream[WorkloadChange]
WEB = WorkloadRef("demo", "web")
API = WorkloadRef("demo", "api")


class RecordingClock(ManualClock):
    """A ManualClock that remembers every sleep (the watch's backoff)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self._slept = anyio.Event()

    async def wait_for_sleeps(self, count: int) -> None:
        while len(self.sleeps) < count:
            await self._slept.wait()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._slept.set()
        self._slept = anyio.Event()
        await super().sleep(seconds)


@contextlib.asynccontextmanager
async def following(changes: AsyncGenerator[WorkloadChange, None]) -> AsyncIterator[Changes]:
    """Consume the watch in a task (so it keeps its stream open) and hand changes over."""
    send, receive = anyio.create_memory_object_stream[WorkloadChange](100)

    async def pump() -> None:
        async with send, contextlib.aclosing(changes):
            async for change in changes:
                await send.send(change)

    async with anyio.create_task_group() as group, receive:
        group.start_soon(pump)
        yield receive
        group.cancel_scope.cancel()


async def _next(changes: Changes, wanted: Callable[[WorkloadChange], bool]) -> list[WorkloadChange]:
    """Changes up to and including the first one that is ``wanted``."""
    seen: list[WorkloadChange] = []
    with anyio.fail_after(5):
        async for change in changes:
            seen.append(change)
            if wanted(change):
                return seen
    raise AssertionError(f"The watch ended before the change; saw {seen}.")


async def _watching(sandbox: Sandbox) -> None:
    with anyio.fail_after(5):
        await sandbox.wait_for_watches(1)


def _replicas(ref: WorkloadRef, replicas: int) -> Callable[[WorkloadChange], bool]:
    return lambda c: c.state.ref == ref and c.state.replicas == replicas


async def test_watch_starts_with_every_deployment_then_reports_changes(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    async with following(watch_deployments(cluster, "demo")) as changes:
        first = await _next(changes, lambda c: c.state.ref == WEB)
        sandbox.cluster.set_replicas("demo", "web", 5)
        later = await _next(changes, _replicas(WEB, 5))

    assert [(c.type, c.state.ref) for c in first] == [
        (ChangeType.ADDED, API),
        (ChangeType.ADDED, WEB),
    ]
    assert later[-1].type is ChangeType.MODIFIED and later[-1].state.managed


@pytest.mark.parametrize("abrupt", [True, False], ids=["aborted", "ended"])
async def test_watch_resumes_after_the_server_drops_the_stream(
    sandbox: Sandbox, connect_cluster: ConnectCluster, abrupt: bool
) -> None:
    clock = RecordingClock()
    cluster = await connect_cluster(sandbox, clock=clock)
    async with following(watch_deployments(cluster, "demo")) as changes:
        await _next(changes, lambda c: c.state.ref == WEB)
        await _watching(sandbox)
        assert sandbox.drop_watches(abrupt=abrupt) == 1
        sandbox.cluster.set_replicas("demo", "api", 4)
        after = await _next(changes, _replicas(API, 4))

    assert all(c.type is ChangeType.MODIFIED for c in after)
    assert sandbox.watches_started == 2
    # An aborted connection is an error and waits a backoff; a clean end resumes at once.
    assert clock.sleeps == ([0.2] if abrupt else [])


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-410"])
async def test_watch_relists_after_410_gone_and_reports_only_the_differences(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster, as_status: bool
) -> None:
    sandbox = await start_sandbox(options=SimOptions(watch_expired_as_status=as_status))
    cluster = await connect_cluster(sandbox)
    async with following(watch_deployments(cluster, "demo")) as changes:
        await _next(changes, lambda c: c.state.ref == WEB)
        await _watching(sandbox)
        sandbox.cluster.set_replicas("demo", "web", 5)
        sandbox.cluster.delete_deployment("demo", "api")
        sandbox.cluster.store.compact()
        sandbox.drop_watches(abrupt=False)
        relisted = await _next(changes, _replicas(WEB, 5))
        sandbox.cluster.set_replicas("demo", "web", 2)
        resumed = await _next(changes, _replicas(WEB, 2))

    assert [(c.type, c.state.ref) for c in relisted] == [
        (ChangeType.DELETED, API),
        (ChangeType.MODIFIED, WEB),
    ]
    assert resumed[-1].type is ChangeType.MODIFIED


async def test_watch_backs_off_with_a_bounded_delay_while_the_server_is_away(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    clock = RecordingClock()
    cluster = await connect_cluster(sandbox, clock=clock, watch_backoff_max_s=1.0)
    async with following(watch_deployments(cluster, "demo")) as changes:
        await _next(changes, lambda c: c.state.ref == WEB)
        await _watching(sandbox)
        await sandbox.stop()
        with anyio.fail_after(5):
            await clock.wait_for_sleeps(6)

    assert clock.sleeps[:6] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


async def test_workload_view_follows_changes_between_polls(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    view = WorkloadView(cluster)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(view.run)
            version = await view.wait_for_change(0)
            while len(view.states()) < 2:
                version = await view.wait_for_change(version)
            sandbox.cluster.set_replicas("demo", "web", 4)
            sandbox.cluster.set_annotations("demo", "api", {"claudescale.io/paused": "true"})
            while not (
                view.get(WEB)
                and view.get(WEB).replicas == 4  # type: ignore[union-attr]
                and view.get(API)
                and view.get(API).paused
            ):  # type: ignore[union-attr]
                version = await view.wait_for_change(version)
            group.cancel_scope.cancel()

    assert [str(s.ref) for s in view.managed()] == ["demo/api", "demo/web"]
