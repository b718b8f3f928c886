"""The sampling proposer: the loop asks a connected MCP client's model (``sampling/createMessage``).

Layer: edge (the MCP assistant). ``SamplingHub`` remembers the handshake-era sessions whose
client declared ``sampling`` (the 2026-07-28 spec forbids server-initiated requests on newer
connections); ``SamplingProposer`` is a ``Proposer`` for the poll loop that sends the newest
of them the fixed system prompt and the numbers-only summary (``claudescale.core.prompt``),
and turns the reply into proposals with the strict parser (``claudescale.assistant.consult``).

It never decides anything: the executor judges every proposal. It never waits past the
loop's deadline (``ProposerChain`` cancels it; the request also carries the deadline). No
client: no proposals, and the rules decide. A refusal, an error, a disconnect or a reply that
is not one well-formed object raises, so the loop records ``llm_unavailable`` and the rules
decide; a single decision that does not parse is recorded (``invalid_proposal`` or
``invalid_target``) and the rules decide for that workload. Above
``mcp.sampling_calls_per_hour`` consults in the last hour no client is asked
(``claudescale.assistant.budget``) and the rules decide. Each consult is audited with its
latency, a digest of the prompt and the reply (bounded, escaped).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    NotificationParams,
    SamplingMessage,
    TextContent,
)
from mcp_types import CONNECTION_CLOSED
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from claudescale.assistant.budget import HourlyBudget
from claudescale.assistant.consult import ModelUnavailable, consult
from claudescale.config import Settings
from claudescale.core.prompt import SYSTEM_PROMPT
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Proposal, Source
from claudescale.ports import AuditSink, Clock

MAX_TOKENS = 2000


class SamplingHub:
    """Sessions that can be sampled, newest last; a session that fails is forgotten."""

    def __init__(self) -> None:
        self._sessions: list[ServerSession] = []

    def install(self, server: MCPServer) -> None:
        """Watch every connection's ``notifications/initialized``. The SDK has no public
        hook for it yet, so this registers on the low-level server the MCPServer wraps."""
        lowlevel: Server[Any] = server._lowlevel_server
        lowlevel.add_notification_handler(
            "notifications/initialized", NotificationParams, self._on_initialized
        )

    async def _on_initialized(self, ctx: Any, params: NotificationParams) -> None:
        session: ServerSession = ctx.session
        capabilities = session.client_capabilities
        if capabilities is None or capabilities.sampling is None:
            return
        if session.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        self._sessions.append(session)
        # Forgotten when its connection closes (no public accessor for it in mcp 2.3), so
        # that the loop does not spend a cycle's consult on a client that is gone.
        session._connection.exit_stack.callback(self.forget, session)

    def newest(self) -> ServerSession | None:
        return self._sessions[-1] if self._sessions else None

    def forget(self, session: ServerSession) -> None:
        if session in self._sessions:
            self._sessions.remove(session)


class SamplingProposer:
    """A model proposer that samples the newest connected client that offers sampling."""

    name = Source.MODEL_SAMPLING.value

    def __init__(
        self,
        hub: SamplingHub,
        settings: Settings,
        audit: AuditSink | None = None,
        *,
        clock: Clock,
    ) -> None:
        self._hub = hub
        self._settings = settings
        self._budget = HourlyBudget(
            Source.MODEL_SAMPLING, settings.mcp.sampling_calls_per_hour, clock
        )
        self.audit = audit
        """Where consults are recorded; set once the service has opened its audit log."""
        self.consulted = False
        """Whether the last ``propose`` asked a client (for the service's telemetry)."""

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        session = self._hub.newest()
        self.consulted = False
        if session is None or not situations:
            return []  # nobody to ask: the rules decide, nothing to record
        self.consulted = self._budget.spend(self.audit)
        if not self.consulted:
            return []  # over the hourly budget: the rules decide
        return await consult(
            partial(self._ask, session),
            situations,
            settings=self._settings,
            source=Source.MODEL_SAMPLING,
            audit=self.audit,
        )

    async def _ask(self, session: ServerSession, prompt: str) -> str:
        request = CreateMessageRequest(
            params=CreateMessageRequestParams(
                messages=[
                    SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
                ],
                system_prompt=SYSTEM_PROMPT,
                max_tokens=MAX_TOKENS,
                temperature=0.0,
            )
        )
        try:
            result = await session.send_request(
                request,
                CreateMessageResult,
                request_read_timeout_seconds=self._settings.loop.proposer_deadline_s,
            )
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            self._hub.forget(session)
            raise ModelUnavailable("The sampling client went away.") from exc
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                self._hub.forget(session)
                raise ModelUnavailable("The sampling client went away.") from exc
            raise ModelUnavailable(f"The sampling client refused ({exc}).") from exc
        content = result.content
        if not isinstance(content, TextContent):
            raise ModelUnavailable(
                f"The sampling client answered with {type(content).__name__}, not text."
            )
        return content.text
