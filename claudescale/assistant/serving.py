"""The service (loop, executor, approvals) with its model proposers and an MCP server beside it.

Layer: edge (the MCP assistant). The assembly of ``claudescale serve``, and of ``claudescale
run`` when ``mcp.enabled`` (without it, ``run`` builds the ``Service`` alone and never imports
the MCP SDK: ``cli.run_cmd.run_service``). ``serve_assistant`` builds the ``Service`` (which
opens the audit log and so takes the state-directory lock: a second instance for the same state
refuses to start), the ``Assistant`` on its parts and the MCP server, then runs the service,
the resource-update sender and at most one MCP transport together: stdio (one client, the
process's stdin and stdout; nothing else is written to stdout) or streamable HTTP.
``provider.model_proposers`` opens the provider proposer when ``provider.enabled`` is set. The
service stops when the stdio client goes away, on SIGTERM or SIGINT, or when a root loop fails;
the transport stops with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import anyio
from mcp.server.mcpserver import MCPServer

from claudescale.assistant.economy import ChangeTriggered
from claudescale.assistant.history import history_for
from claudescale.assistant.http import check_bind, http_app, read_token, serve_http
from claudescale.assistant.provider import hand_audit
from claudescale.assistant.runtime import Assistant
from claudescale.assistant.sampling import SamplingHub, SamplingProposer
from claudescale.assistant.server import build_server
from claudescale.assistant.updates import ResourceUpdates
from claudescale.config import Settings
from claudescale.engine.service import Service, stop_on_signal
from claudescale.ports import (
    Clock,
    Cluster,
    EventRecorder,
    Leadership,
    MetricsSource,
    Proposer,
)

log = logging.getLogger(__name__)


class Transport(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    transport: Transport | None = Transport.STDIO
    """None: no MCP endpoint (the loop still consults the models)."""
    read_only: bool = False
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None


def options_for_run(settings: Settings) -> ServeOptions:
    """``run``'s MCP endpoint from the ``mcp`` settings: streamable HTTP when enabled, under
    the same rules as ``serve --transport http`` (ConfigError for a non-loopback bind
    without a token, or a token file or variable that holds none)."""
    mcp = settings.mcp
    if not mcp.enabled:
        return ServeOptions(transport=None)
    token = read_token(mcp.token_file, mcp.token_env)
    check_bind(mcp.host, token)
    return ServeOptions(Transport.HTTP, mcp.read_only, mcp.host, mcp.port, token)


@dataclass(frozen=True, slots=True)
class Assembled:
    service: Service
    assistant: Assistant
    server: MCPServer
    updates: ResourceUpdates


def assemble(
    settings: Settings,
    *,
    cluster: Cluster,
    metrics: MetricsSource,
    clock: Clock,
    read_only: bool,
    proposers: Sequence[Proposer] = (),
    sample_clients: bool = True,
    leadership: Leadership | None = None,
    events: EventRecorder | None = None,
) -> Assembled:
    """The service, the assistant on its parts, and the MCP server, whose handshake-era
    clients that offer sampling are asked first (unless ``sample_clients`` is false: no
    endpoint, no clients), then ``proposers``, then the rules, each model only about
    workloads whose situation changed enough (``ChangeTriggered``). ``get_metrics`` series
    are kept only when there is an endpoint (``history_for``). Every verdict marks the
    resources it changes for the subscribers. Opening the audit log takes the
    state-directory lock (AuditError when another process holds it)."""
    recording, history = history_for(metrics, clock, enabled=sample_clients)
    hub = SamplingHub()
    sampling = SamplingProposer(hub, settings, clock=clock)
    asked = (sampling, *proposers) if sample_clients else tuple(proposers)
    models = [ChangeTriggered(model, settings, clock) for model in asked]
    service = Service(
        settings,
        cluster=cluster,
        metrics=recording,
        clock=clock,
        proposers=models,
        leadership=leadership,
        events=events,
    )
    sampling.audit = service.audit
    hand_audit(proposers, service.audit)
    assistant = Assistant(
        settings=settings,
        cluster=cluster,
        metrics=recording,
        executor=service.executor,
        controller=service.controller,
        audit=service.audit,
        audit_path=service.audit.path,
        clock=clock,
        history=history,
    )
    updates = ResourceUpdates()
    service.executor.add_verdict_listener(updates.notice)
    server = build_server(assistant, read_only=read_only, updates=updates)
    hub.install(server)
    return Assembled(service, assistant, server, updates)


async def serve_assistant(
    settings: Settings,
    options: ServeOptions,
    *,
    cluster: Cluster,
    metrics: MetricsSource,
    clock: Clock,
    ready: anyio.Event | None = None,
    proposers: Sequence[Proposer] = (),
    leadership: Leadership | None = None,
    events: EventRecorder | None = None,
) -> None:
    """Run until stopped; ``ready`` is set once the service and the transport serve.
    ``leadership`` and ``events``: leader election and Kubernetes Events (``Service``)."""
    if options.transport is Transport.HTTP:
        check_bind(options.host, options.token)  # before anything starts
    parts = assemble(
        settings,
        cluster=cluster,
        metrics=metrics,
        clock=clock,
        read_only=options.read_only,
        proposers=proposers,
        sample_clients=options.transport is not None,
        leadership=leadership,
        events=events,
    )
    service, server = parts.service, parts.server
    started = anyio.Event()

    async def transport() -> None:
        try:
            await started.wait()
            if options.transport is Transport.STDIO:
                if ready is not None:
                    ready.set()
                await server.run_stdio_async()  # returns when the client closes stdin
                return
            if options.transport is Transport.HTTP:
                app = http_app(server, options.host, options.port, options.token)
                port = await tg.start(serve_http, app, options.host, options.port)
                url = f"http://{options.host}:{port}/mcp"
                log.info(
                    f"MCP over streamable HTTP on {url}.",
                    extra={"event": "mcp_listening", "url": url, "port": port},
                )
            if ready is not None:
                ready.set()
            await anyio.sleep_forever()
        finally:
            service.stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signal, service)
        await tg.start(parts.updates.notify_forever)
        tg.start_soon(transport)
        await service.run(ready=started)
        tg.cancel_scope.cancel()
