"""Clients nobody here wrote: the TypeScript MCP Inspector's CLI over stdio and HTTP, and
Claude Code running the README's `claude mcp add` exactly as written, then `claude mcp list`.

They come from the npm registry, installed once into ``.cache/mcp-clients`` (a machine
without npm skips these tests; a failed install fails them). Claude Code runs with a
throw-away HOME and needs no API key to add, start and list a server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / ".cache" / "mcp-clients"
PACKAGES = ("@modelcontextprotocol/inspector@2", "@anthropic-ai/claude-code@2")
INSTALL_S = 600
RUN_S = 120

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def npm_bin() -> Path:
    bin_dir = CLIENTS / "node_modules" / ".bin"
    if (bin_dir / "mcp-inspector").exists() and (bin_dir / "claude").exists():
        return bin_dir
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed on this machine")
    CLIENTS.mkdir(parents=True, exist_ok=True)
    install = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(
        [*install, "--prefix", str(CLIENTS), *PACKAGES],
        check=True,
        timeout=INSTALL_S,
        capture_output=True,
    )
    return bin_dir


def _serve(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "claudescale.cli.main",
        "serve",
        "--sandbox",
        "--sandbox-dir",
        str(tmp_path / "sandbox"),
        *extra,
    ]


def _inspect(npm_bin: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [str(npm_bin / "mcp-inspector"), "--cli", *args],
        capture_output=True,
        timeout=RUN_S,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_inspector_lists_and_calls_the_tools_over_stdio(npm_bin: Path, tmp_path: Path) -> None:
    listed = _inspect(npm_bin, *_serve(tmp_path), "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}  # type: ignore[attr-defined]
    assert {"get_status", "propose_scaling", "apply_scaling", "rollback"} <= names
    called = _inspect(
        npm_bin, *_serve(tmp_path), "--method", "tools/call", "--tool-name", "get_status"
    )
    status = called["structuredContent"]
    assert {w["name"] for w in status["workloads"]} == {"web", "api"}  # type: ignore[index]


def test_the_inspector_lists_and_calls_the_tools_over_http(npm_bin: Path, tmp_path: Path) -> None:
    with subprocess.Popen(
        _serve(tmp_path, "--transport", "http", "--port", "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    ) as server:
        try:
            url = _listening_url(server)
            listed = _inspect(npm_bin, url, "--transport", "http", "--method", "tools/list")
            called = _inspect(
                npm_bin,
                url,
                "--transport",
                "http",
                "--method",
                "tools/call",
                "--tool-name",
                "get_status",
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=RUN_S)
    assert "propose_scaling" in {tool["name"] for tool in listed["tools"]}  # type: ignore[attr-defined]
    assert called["structuredContent"]["mode"] == "supervised"  # type: ignore[index]
    assert server.returncode == 0


def _listening_url(server: subprocess.Popen[bytes]) -> str:
    assert server.stderr is not None
    for line in server.stderr:  # JSON log lines; bounded by the process's own start-up
        record = json.loads(line)
        if record.get("event") == "mcp_listening":
            return str(record["url"])
    raise AssertionError("The HTTP server stopped before it listened.")


def test_claude_code_adds_the_readme_server_and_reports_it_connected(
    npm_bin: Path, tmp_path: Path
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it from Claude", 1)[1].split("\n## ", 1)[0]
    add = next(line for line in section.splitlines() if line.startswith("claude mcp add"))
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": f"{npm_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PWD": str(ROOT),
    }
    added = subprocess.run(
        ["bash", "-c", add], cwd=ROOT, env=env, capture_output=True, timeout=RUN_S, check=False
    )
    assert added.returncode == 0, added.stderr.decode()
    listed = subprocess.run(
        ["claude", "mcp", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=RUN_S,
        check=False,
    )
    output = listed.stdout.decode()
    assert re.search(r"^claudescale: .*serve --sandbox.*Connected", output, re.MULTILINE), output
