"""``claudescale run`` serves the MCP tools over streamable HTTP when its settings say so, under
the rules of ``serve --transport http``: a real process against a sandbox cluster, a bearer
token from an environment variable, and a refusal for a non-loopback bind without a token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from claudescale.adapters.system_clock import SystemClock
from claudescale.cli.main import main
from claudescale.sim import write_kubeconfig
from claudescale.testing.sandbox import StartSandbox

TOKEN = "run-mcp-token-for-tests"
TOKEN_ENV = "TEST_RUN_MCP_TOKEN"  # not CLAUDESCALE_*: those are settings
START_S = 60.0
STOP_S = 20.0


def _config(tmp_path: Path, mcp: dict[str, Any], kubeconfig: Path | None = None) -> Path:
    path = tmp_path / "claudescale.yaml"
    data: dict[str, Any] = {
        "cluster": {"namespaces": ["demo"]},
        "prometheus": {"url": "http://127.0.0.1:9", "query_timeout_s": 1.0},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "service": {"port": 0},
        "mcp": mcp,
    }
    if kubeconfig is not None:
        data["cluster"]["kubeconfig"] = str(kubeconfig)
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_refuses_a_non_loopback_mcp_bind_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, {"enabled": True, "host": "0.0.0.0"})
    status = main(["run", "--config", str(config)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "0.0.0.0, which is not a loopback address" in err


async def test_run_serves_the_mcp_tools_over_http_when_its_settings_enable_it(
    tmp_path: Path, start_sandbox: StartSandbox
) -> None:
    sandbox = await start_sandbox(clock=SystemClock())
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", sandbox.url)
    mcp = {"enabled": True, "port": 0, "token_env": TOKEN_ENV, "read_only": True}
    config = _config(tmp_path, mcp, kubeconfig)
    command = [sys.executable, "-m", "claudescale.cli.main", "run", "--config", str(config)]
    env = {**os.environ, TOKEN_ENV: TOKEN}
    async with await anyio.open_process(command, env=env, stdin=subprocess.DEVNULL) as process:
        assert process.stderr is not None
        url = None
        with anyio.fail_after(START_S):
            buffered = b""
            while url is None:
                buffered += await process.stderr.receive()
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    record = json.loads(line)
                    if record.get("event") == "mcp_listening":
                        url = str(record["url"])
            async with httpx2.AsyncClient() as http:
                refused = await http.post(url, json={}, headers={"accept": "application/json"})
            authorised = create_mcp_http_client(headers={"authorization": f"Bearer {TOKEN}"})
            async with authorised, Client(streamable_http_client(url, http_client=authorised)) as c:
                names = {tool.name for tool in (await c.list_tools()).tools}
                status = await c.call_tool("get_status", {})
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(STOP_S):
            async for _ in process.stderr:
                pass
            returncode = await process.wait()
    assert refused.status_code == 401
    assert "get_status" in names and "apply_scaling" not in names  # mcp.read_only
    assert not status.is_error
    assert {w["name"] for w in status.structured_content["workloads"]} == {"web", "api"}
    assert returncode == 0
