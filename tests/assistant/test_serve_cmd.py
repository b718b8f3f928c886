"""``claudescale serve --sandbox`` over stdio, as an assistant starts it: a real process, the
SDK's stdio client, nothing but protocol on stdout, and one instance per state directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

SERVE = [sys.executable, "-m", "claudescale.cli.main", "serve", "--sandbox"]
START_S = 60.0


def _lines(*messages: dict[str, object]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


async def test_a_stdio_client_lists_and_calls_the_tools_of_a_sandbox_server(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=SERVE[0], args=[*SERVE[1:], "--sandbox-dir", str(tmp_path)]
    )
    with anyio.fail_after(START_S):
        async with Client(params) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            status = await client.call_tool("get_status", {})
    assert {"get_status", "propose_scaling", "apply_scaling"} <= names
    workloads = {w["name"]: w["replicas"] for w in status.structured_content["workloads"]}
    assert workloads == {"api": 2, "web": 3}
    assert (tmp_path / "audit.jsonl").exists()


async def test_stdout_carries_nothing_but_protocol_and_closing_stdin_stops_the_server(
    tmp_path: Path,
) -> None:
    command = [*SERVE, "--read-only", "--sandbox-dir", str(tmp_path)]
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    with anyio.fail_after(START_S):
        process = await anyio.open_process(command)
        async with process:
            assert process.stdin is not None and process.stdout is not None
            await process.stdin.send(_lines(initialize, initialized, listing))
            received = b""
            while received.count(b"\n") < 2:
                received += await process.stdout.receive()
            await process.stdin.aclose()
            received += b"".join([chunk async for chunk in process.stdout])
            status = await process.wait()
    messages = [json.loads(line) for line in received.splitlines()]
    assert all(message["jsonrpc"] == "2.0" for message in messages)
    assert [m.get("id") for m in messages] == [1, 2]
    assert "apply_scaling" not in {tool["name"] for tool in messages[1]["result"]["tools"]}
    assert status == 0


async def test_a_second_server_on_the_same_state_refuses_with_one_line(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=SERVE[0], args=[*SERVE[1:], "--sandbox-dir", str(tmp_path)]
    )
    with anyio.fail_after(START_S):
        async with Client(params) as client:
            await client.list_tools()
            second = await anyio.run_process(
                [*SERVE, "--sandbox-dir", str(tmp_path)], check=False, stdin=subprocess.DEVNULL
            )
    err = second.stderr.decode()
    assert second.returncode == 2
    lines = [line for line in err.splitlines() if line.startswith("claudescale:")]
    assert len(lines) == 1 and "already open for writing by another process" in lines[0]
    assert second.stdout == b""
