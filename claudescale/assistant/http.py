"""The MCP server over streamable HTTP at ``/mcp``, behind a bearer token when it must be.

Layer: edge (the MCP assistant). Bound to 127.0.0.1 by default; a bind to any address that
is not loopback refuses to start without a bearer token (from a file or an environment
variable). With a token every request must carry ``Authorization: Bearer <token>``, compared
in constant time (``hmac.compare_digest``), or it gets 401. The SDK's Host and Origin checks
(DNS rebinding protection) stay on for every bind.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from claudescale.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MCP_PATH = "/mcp"
STARTUP_S = 10.0
SHUTDOWN_S = 3.0
LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None, token_env: str | None) -> str | None:
    """The bearer token from a file or an environment variable (None: neither given)."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{token_file}: cannot read the token file ({exc.strerror})."
            ) from None
        if not token:
            raise ConfigError(f"{token_file}: the token file is empty.")
        return token
    if token_env is not None:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise ConfigError(f"The environment variable {token_env} holds no token.")
        return token
    return None


def check_bind(host: str, token: str | None) -> None:
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve MCP on {host}, which is not a loopback address, without a "
            "bearer token: give --token-file FILE or --token-env VARIABLE."
        )


class BearerAuth:
    """ASGI middleware: 401 unless the request carries the bearer token."""

    def __init__(self, app: App, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                given = bytes(value)
        if not hmac.compare_digest(given, self._expected):
            await _unauthorized(send)
            return
        await self._app(scope, receive, send)


async def _unauthorized(send: Send) -> None:
    body = b'{"error": "unauthorized", "message": "A valid bearer token is required."}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="claudescale"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_app(server: MCPServer, host: str, port: int, token: str | None) -> App:
    """The ASGI app: streamable HTTP at ``/mcp``, Host/Origin checks on, bearer auth when a
    token is given."""
    check_bind(host, token)
    allowed = {"127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host}]"}
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in sorted(allowed)],
        allowed_origins=[f"http://{name}:*" for name in sorted(allowed)],
    )
    app: App = server.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=security, host=host
    )
    return app if token is None else BearerAuth(app, token)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the service owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(
    app: App,
    host: str,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled, then stop within ``SHUTDOWN_S``; reports the bound port
    (``port`` 0 picks one)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=int(SHUTDOWN_S),
    )
    server = _Uvicorn(config)
    done = anyio.Event()

    async def run() -> None:
        try:
            with anyio.CancelScope(shield=True):  # it stops when told, below, not mid-request
                await server.serve()
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            with anyio.fail_after(STARTUP_S):
                while not server.started and not done.is_set():  # noqa: ASYNC110 - no event
                    await anyio.sleep(0.01)
            if done.is_set():
                raise ConfigError(f"Could not serve MCP over HTTP on {host}:{port}.")
            bound = port
            for listener in server.servers:
                for sock in listener.sockets:
                    bound = int(sock.getsockname()[1])
            task_status.started(bound)
            await anyio.sleep_forever()
        finally:
            server.should_exit = True
            with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_S + 1):
                await done.wait()
