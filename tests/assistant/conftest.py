"""Fixtures for the MCP assistant: the service's parts on an in-memory cluster, with the
executor running, and MCP clients that answer elicitation as a test says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData

from claudescale.assistant.history import RecordingMetrics
from claudescale.assistant.http import http_app, serve_http
from claudescale.assistant.provider import ProviderProposer
from claudescale.assistant.runtime import Assistant
from claudescale.assistant.sampling import SamplingHub, SamplingProposer
from claudescale.assistant.server import build_server
from claudescale.assistant.updates import ResourceUpdates
from claudescale.config import Settings, parse_settings
from claudescale.core.values import WorkloadRef, WorkloadState
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness as ExecutorHarness

WEB = WorkloadRef("demo", "web")
API = WorkloadRef("demo", "api")


class Cluster(ScriptedCluster):
    """The scripted cluster, where a test may also take a workload out of management."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.unmanaged: set[WorkloadRef] = set()

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        state = await super().read_workload(ref)
        return replace(state, managed=ref not in self.unmanaged)


class World:
    """The assistant and what a test needs to look at or steer."""

    def __init__(
        self, assistant: Assistant, cluster: Cluster, clock: ManualClock, hub: SamplingHub
    ) -> None:
        self.assistant = assistant
        self.hub = hub
        self.updates = ResourceUpdates()
        self.cluster = cluster
        self.clock = clock
        self.questions: list[str] = []


Harness = Callable[..., AbstractAsyncContextManager[World]]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    """``async with harness(mode="autonomous", cpu=85.0) as world``: demo/web (3 replicas)
    and demo/api (2), both at ``cpu`` percent, the executor running."""

    @asynccontextmanager
    async def start(
        mode: str = "autonomous",
        cpu: float = 85.0,
        sampling: bool = False,
        ask_provider: bool = False,
        **settings: Any,
    ) -> AsyncIterator[World]:
        clock = ManualClock()
        cluster = Cluster(clock)
        for ref, replicas in ((WEB, 3), (API, 2)):
            cluster.add(ref, replicas).cpu_percent = cpu
        config: Settings = parse_settings(
            {"mode": mode, "audit": {"path": str(tmp_path / "audit.jsonl")}, **settings}
        )
        world_harness = ExecutorHarness(
            clock, cluster, config, metrics=RecordingMetrics(cluster, clock)
        )
        metrics = world_harness.metrics
        proposers: list[Any] = []
        try:
            async with world_harness.running(recover=False) as executor:
                audit = world_harness.audit
                hub = SamplingHub()
                if sampling:
                    proposers.append(SamplingProposer(hub, config, audit, clock=clock))
                if ask_provider:
                    environ = {config.provider.api_key_env: "test-key"}
                    proposers.append(ProviderProposer(config, clock, audit, environ=environ))
                assistant = Assistant(
                    settings=config,
                    cluster=cluster,
                    metrics=metrics,
                    executor=executor,
                    controller=world_harness.controller(proposers),
                    audit=audit,
                    audit_path=world_harness.audit_path,
                    clock=clock,
                    history=metrics,
                    confirm_timeout_s=5.0,
                )
                world = World(assistant, cluster, clock, hub)
                executor.add_verdict_listener(world.updates.notice)
                async with anyio.create_task_group() as notifying:
                    await notifying.start(world.updates.notify_forever)
                    yield world
                    notifying.cancel_scope.cancel()
        finally:
            for proposer in proposers:
                if isinstance(proposer, ProviderProposer):
                    await proposer.__aexit__(None, None, None)

    return start


Answerer = Callable[[str], ElicitResult | None]


def elicitation(world: World, answer: Answerer) -> Any:
    """An elicitation callback that records the question and answers with ``answer``
    (None: never answers)."""

    async def callback(
        context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        message = getattr(params, "message", "")
        world.questions.append(message)
        result = answer(message)
        if result is None:
            await anyio.sleep_forever()
        assert result is not None
        return result

    return callback


def accept(_: str) -> ElicitResult:
    return ElicitResult(action="accept", content={"confirm": True})


def decline(_: str) -> ElicitResult:
    return ElicitResult(action="decline")


def cancel(_: str) -> ElicitResult:
    return ElicitResult(action="cancel")


@pytest.fixture
def answers() -> dict[str, Answerer]:
    return {"accept": accept, "decline": decline, "cancel": cancel}


def connect(
    world: World,
    mode: str,
    answer: Answerer | None,
    *,
    read_only: bool = False,
    sampling: Any = None,
    **options: Any,
) -> Client:
    server = build_server(world.assistant, read_only=read_only, updates=world.updates)
    world.hub.install(server)
    callback = None if answer is None else elicitation(world, answer)
    return Client(
        server, mode=mode, elicitation_callback=callback, sampling_callback=sampling, **options
    )


@pytest.fixture
def client_for() -> Callable[..., Client]:
    """``client_for(world, "legacy", accept)``: an in-process MCP client of the assistant."""
    return connect


@asynccontextmanager
async def connect_http(world: World, *, sampling: Any = None, **options: Any) -> AsyncIterator[Any]:
    """A handshake-era MCP client of the assistant over streamable HTTP on a loopback port."""
    server = build_server(world.assistant, updates=world.updates)
    world.hub.install(server)
    app = http_app(server, "127.0.0.1", 0, None)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_http, app, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{port}/mcp"
        async with Client(url, mode="legacy", sampling_callback=sampling, **options) as client:
            yield client
        tg.cancel_scope.cancel()


@pytest.fixture
def http_client_for() -> Callable[..., AbstractAsyncContextManager[Any]]:
    """``http_client_for(world, sampling=callback)``: a legacy MCP client over HTTP."""
    return connect_http
