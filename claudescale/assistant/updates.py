"""Resource-updated notifications: subscribed clients hear when the loop acts.

Layer: edge (the MCP assistant). ``ResourceUpdates`` is told of every verdict the executor
records (``Executor.add_verdict_listener``, whoever asked: the loop, an approval, a tool) and
tells the clients that subscribed that ``claudescale://status``, ``claudescale://audit/recent``
and ``claudescale://workloads/{namespace}/{name}`` changed: handshake-era sessions that sent
``resources/subscribe`` get ``notifications/resources/updated``, and 2026-07-28
``subscriptions/listen`` streams get the event through the server's subscription bus.

The executor only marks URIs as changed; ``notify_forever`` sends in its own task, each send
under ``SEND_TIMEOUT_S``, so a slow or vanished client never holds up a verdict. A session
whose send fails is forgotten. Nothing here reads or changes anything else.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from anyio.abc import TaskStatus
from mcp.server.connection import Connection
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from claudescale.core.values import Proposal, Verdict, WorkloadRef

log = logging.getLogger(__name__)

STATUS_URI = "claudescale://status"
AUDIT_URI = "claudescale://audit/recent"
SEND_TIMEOUT_S = 5.0
"""Longest one notification to one session may take before the session is forgotten."""


def workload_uri(ref: WorkloadRef) -> str:
    return f"claudescale://workloads/{ref.namespace}/{ref.name}"


def changed_by(ref: WorkloadRef) -> tuple[str, ...]:
    """The resources a verdict about ``ref`` changes."""
    return (STATUS_URI, AUDIT_URI, workload_uri(ref))


class ResourceUpdates:
    """Who subscribed to what, and the URIs changed since the last round of notifications."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        """The server's ``subscriptions/listen`` bus (pass it to ``MCPServer``)."""
        self._subscribed: dict[Connection, tuple[ServerSession, set[str]]] = {}
        """Per connection (the SDK builds a ServerSession per request): a session to send
        through (its connection's own channel) and the URIs subscribed to."""
        self._pending: dict[str, None] = {}  # insertion-ordered set
        self._wake = anyio.Event()

    def install(self, server: MCPServer) -> None:
        """Serve ``resources/subscribe`` and ``resources/unsubscribe`` (handshake era). The
        MCPServer has no decorator for them, so they go on the low-level server it wraps."""
        lowlevel = server._lowlevel_server
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        lowlevel.add_request_handler(
            "resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe
        )

    async def _subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        session: ServerSession = ctx.session
        connection: Connection = session._connection  # no public accessor in mcp 2.3
        if connection not in self._subscribed:
            self._subscribed[connection] = (session, set())
            connection.exit_stack.callback(self._subscribed.pop, connection, None)
        self._subscribed[connection][1].add(str(params.uri))
        return EmptyResult()

    async def _unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        found = self._subscribed.get(ctx.session._connection)
        if found is not None:
            found[1].discard(str(params.uri))
        return EmptyResult()

    def subscribers(self) -> int:
        """Connections subscribed to at least one resource."""
        return sum(1 for _, uris in self._subscribed.values() if uris)

    def notice(self, proposal: Proposal, verdict: Verdict) -> None:
        """A verdict was recorded (called by the executor: never raises, never waits)."""
        for uri in changed_by(proposal.ref):
            self._pending[uri] = None
        self._wake.set()

    async def notify_forever(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Send what changed, as it changes, until cancelled."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            uris, self._pending = list(self._pending), {}
            await self.send(uris)

    async def send(self, uris: list[str]) -> None:
        for uri in uris:
            await self.bus.publish(ResourceUpdated(uri=uri))
        for connection, (session, wanted) in list(self._subscribed.items()):
            for uri in [u for u in uris if u in wanted]:
                try:
                    with anyio.fail_after(SEND_TIMEOUT_S):
                        await session.send_resource_updated(uri)
                except (
                    anyio.ClosedResourceError,
                    anyio.BrokenResourceError,
                    TimeoutError,
                    MCPError,
                ) as exc:
                    self._subscribed.pop(connection, None)
                    log.info(
                        f"Stopped notifying an MCP session of resource updates: it failed "
                        f"({type(exc).__name__}).",
                        extra={"event": "mcp_subscriber_gone"},
                    )
                    break
