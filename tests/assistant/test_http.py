"""MCP over streamable HTTP: loopback by default, a bearer token (constant-time) otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from claudescale.assistant.http import check_bind, http_app, is_loopback, read_token, serve_http
from claudescale.assistant.server import build_server
from claudescale.cli.main import main
from claudescale.errors import ConfigError

TOKEN = "s3cret-token-for-tests"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_a_non_loopback_bind_refuses_to_start_without_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="not a loopback address, without a bearer token"):
        check_bind(host, None)
    check_bind(host, TOKEN)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_a_loopback_bind_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


def test_serve_refuses_a_non_loopback_bind_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["serve", "--transport", "http", "--host", "0.0.0.0", "--sandbox"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "0.0.0.0, which is not a loopback address" in err


def test_the_token_comes_from_a_file_or_a_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("MCP_TEST_TOKEN", TOKEN)
    assert read_token(tmp_path / "token", None) == TOKEN
    assert read_token(None, "MCP_TEST_TOKEN") == TOKEN
    assert read_token(None, None) is None
    with pytest.raises(ConfigError, match="holds no token"):
        read_token(None, "MCP_TEST_TOKEN_UNSET")


async def test_requests_without_the_right_bearer_token_get_401(harness: Any) -> None:
    async with harness() as world, anyio.create_task_group() as tg:
        app = http_app(build_server(world.assistant), "127.0.0.1", 0, TOKEN)
        port = await tg.start(serve_http, app, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{port}/mcp"
        with anyio.fail_after(20):
            async with httpx2.AsyncClient() as http:
                none = await http.post(url, json=INITIALIZE, headers=HEADERS)
                wrong = await http.post(
                    url, json=INITIALIZE, headers={**HEADERS, "authorization": "Bearer nope"}
                )
                prefix = await http.post(
                    url, json=INITIALIZE, headers={**HEADERS, "authorization": f"Bearer {TOKEN}x"}
                )
            authorised = create_mcp_http_client(headers={"authorization": f"Bearer {TOKEN}"})
            async with authorised, Client(streamable_http_client(url, http_client=authorised)) as c:
                names = {tool.name for tool in (await c.list_tools()).tools}
                status = await c.call_tool("get_status", {})
        tg.cancel_scope.cancel()
    assert (none.status_code, wrong.status_code, prefix.status_code) == (401, 401, 401)
    assert "get_status" in names and "apply_scaling" in names
    assert not status.is_error and status.structured_content["mode"] == "autonomous"


async def test_a_request_naming_another_host_is_refused(harness: Any) -> None:
    async with harness() as world, anyio.create_task_group() as tg:
        app = http_app(build_server(world.assistant), "127.0.0.1", 0, None)
        port = await tg.start(serve_http, app, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{port}/mcp"
        with anyio.fail_after(20):
            async with httpx2.AsyncClient() as http:
                rebinding = await http.post(
                    url, json=INITIALIZE, headers={**HEADERS, "host": "evil.example:80"}
                )
                origin = await http.post(
                    url, json=INITIALIZE, headers={**HEADERS, "origin": "http://evil.example"}
                )
                fine = await http.post(url, json=INITIALIZE, headers=HEADERS)
        tg.cancel_scope.cancel()
    assert rebinding.status_code == 421 and origin.status_code == 403
    assert fine.status_code == 200
