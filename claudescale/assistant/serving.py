"""``claudescale serve``: the service (loop, executor, approvals) with an MCP server beside it.

Layer: edge (the MCP assistant). ``serve_assistant`` builds the ``Service`` (which opens the
audit log and so takes the state-directory lock: a second instance for the same state
refuses to start), the ``Assistant`` on its parts and the MCP server, then runs the service
and one MCP transport together: stdio (one client, the process's stdin and stdout; nothing
else is written to stdout) or streamable HTTP. The service stops when the stdio client goes
away, on SIGTERM or SIGINT, or when a root loop fails; the transport stops with it.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import anyio
from mcp.server.mcpserver import MCPServer

from claudescale.assistant.economy import ChangeTriggered
from claudescale.assistant.http import check_bind, http_app, serve_http
from claudescale.assistant.provider import ProviderProposer
from claudescale.assistant.runtime import Assistant, RecordingMetrics
from claudescale.assistant.sampling import SamplingHub, SamplingProposer
from claudescale.assistant.server import build_server
from claudescale.config import Settings
from claudescale.engine.service import Service
from claudescale.ports import Clock, Cluster, MetricsSource, Proposer

log = logging.getLogger(__name__)


class Transport(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    transport: Transport = Transport.STDIO
    read_only: bool = False
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None


def assemble(
    settings: Settings,
    *,
    cluster: Cluster,
    metrics: MetricsSource,
    clock: Clock,
    read_only: bool,
    proposers: Sequence[Proposer] = (),
) -> tuple[Service, Assistant, MCPServer]:
    """The service, the assistant on its parts, and the MCP server, whose handshake-era
    clients that offer sampling are asked first (then ``proposers``, then the rules), each
    only about workloads whose situation changed enough (``ChangeTriggered``). Opening the
    audit log takes the state-directory lock (AuditError when another process holds it)."""
    recording = RecordingMetrics(metrics, clock)
    hub = SamplingHub()
    sampling = SamplingProposer(hub, settings)
    models = [ChangeTriggered(model, settings, clock) for model in (sampling, *proposers)]
    service = Service(settings, cluster=cluster, metrics=recording, clock=clock, proposers=models)
    sampling.audit = service.audit
    for proposer in proposers:
        if isinstance(proposer, ProviderProposer) and proposer.audit is None:
            proposer.audit = service.audit
    assistant = Assistant(
        settings=settings,
        cluster=cluster,
        metrics=recording,
        executor=service.executor,
        controller=service.controller,
        audit=service.audit,
        audit_path=service.audit.path,
        clock=clock,
    )
    server = build_server(assistant, read_only=read_only)
    hub.install(server)
    return service, assistant, server


async def serve_assistant(
    settings: Settings,
    options: ServeOptions,
    *,
    cluster: Cluster,
    metrics: MetricsSource,
    clock: Clock,
    ready: anyio.Event | None = None,
    proposers: Sequence[Proposer] = (),
) -> None:
    if options.transport is Transport.HTTP:
        check_bind(options.host, options.token)  # before anything starts
    service, _, server = assemble(
        settings,
        cluster=cluster,
        metrics=metrics,
        clock=clock,
        read_only=options.read_only,
        proposers=proposers,
    )
    started = anyio.Event()

    async def transport() -> None:
        try:
            await started.wait()
            if options.transport is Transport.STDIO:
                if ready is not None:
                    ready.set()
                await server.run_stdio_async()  # returns when the client closes stdin
            else:
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
        tg.start_soon(_stop_on_signals, service)
        tg.start_soon(transport)
        await service.run(ready=started)
        tg.cancel_scope.cancel()


async def _stop_on_signals(service: Service) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            log.info(f"{name} received; stopping.", extra={"event": "signal", "signal": name})
            service.stop()
            return
