"""The MCP server over HTTP under load: 100 concurrent clients while the poll loop runs.

Run: ``.venv/bin/python -m benchmarks.mcp_http [--clients N] [--rounds R]``.
Writes ``benchmarks/results/mcp_http.json`` and prints it.

``claudescale serve --transport http --sandbox`` runs in its own process (the service, its
1 s poll loop and the embedded sandbox), so server and clients each have a core. N clients
of the MCP SDK (streamable HTTP) connect at once, then each calls ``get_status`` and
``propose_scaling`` R times in turn. Latency is per call as a client sees it (client-side
work included), with p50, p99 and errors per tool.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from benchmarks.common import write_results

PROPOSE = {"namespace": "demo", "name": "web", "target_replicas": 4, "reason": "CPU at 85%."}


def _start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "CLAUDESCALE_LOOP__INTERVAL_S": "1",
        "CLAUDESCALE_SERVICE__LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "claudescale.cli.main", "serve", "--transport", "http"]
    command += ["--port", "0", "--sandbox", "--sandbox-dir", str(workdir)]
    env["CLAUDESCALE_SERVICE__LOG_LEVEL"] = "info"
    server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert server.stderr is not None
    for line in server.stderr:
        record = json.loads(line)
        if record.get("event") == "mcp_listening":
            return server, str(record["url"])
    raise RuntimeError("the server stopped before it listened")


async def _client(
    url: str, rounds: int, latencies: dict[str, list[float]], errors: dict[str, int]
) -> None:
    async with Client(url) as client:
        for _ in range(rounds):
            for tool, arguments in (("get_status", {}), ("propose_scaling", PROPOSE)):
                started = time.perf_counter()
                try:
                    result = await client.call_tool(tool, arguments)
                    failed = result.is_error
                except Exception:
                    failed = True
                latencies[tool].append(time.perf_counter() - started)
                errors[tool] += int(failed)


async def _run(clients: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        server, url = _start_server(Path(workdir))
        try:
            latencies: dict[str, list[float]] = {"get_status": [], "propose_scaling": []}
            errors = {"get_status": 0, "propose_scaling": 0}
            started = time.perf_counter()
            with anyio.fail_after(600):
                async with anyio.create_task_group() as tg:
                    for _ in range(clients):
                        tg.start_soon(_client, url, rounds, latencies, errors)
            wall_s = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    tools = {}
    for tool, values in latencies.items():
        ordered = sorted(values)
        tools[tool] = {
            "calls": len(values),
            "errors": errors[tool],
            "p50_ms": round(1000 * statistics.median(ordered), 2),
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 2),
        }
    return {
        "clients": clients,
        "rounds": rounds,
        "wall_s": round(wall_s, 2),
        "calls_per_s": round(sum(len(v) for v in latencies.values()) / wall_s, 1),
        "tools": tools,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    write_results("mcp_http", anyio.run(_run, args.clients, args.rounds))


if __name__ == "__main__":
    main()
