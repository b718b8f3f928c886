"""``claudescale run`` without ``mcp.enabled`` imports neither the MCP SDK nor its server
stack (they cost tens of MiB a process), checked in a fresh interpreter so that what other
tests imported does not count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from functools import partial
from pathlib import Path

import anyio

from claudescale.cli.main import build_parser
from claudescale.cli.run_cmd import run_service
from claudescale.config import parse_settings
from claudescale.core.values import WorkloadRef
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster

directory = Path(sys.argv[1])
args = build_parser().parse_args(["run"])
settings = parse_settings(
    {
        "mode": "observe",
        "audit": {"path": str(directory / "audit.jsonl")},
        "service": {"port": 0},
        "mcp": json.loads(sys.argv[2]),
    }
)
clock = ManualClock()
cluster = ScriptedCluster(clock)
cluster.add(WorkloadRef("demo", "web"), 3).cpu_percent = 50.0


async def main() -> None:
    if settings.mcp.enabled:
        from claudescale.assistant.serving import options_for_run

        options_for_run(settings)
    ready = anyio.Event()
    async with anyio.create_task_group() as group:
        service = partial(run_service, settings, cluster=cluster, metrics=cluster, clock=clock)
        group.start_soon(partial(service, ready=ready))
        with anyio.fail_after(30):
            await ready.wait()
        group.cancel_scope.cancel()


anyio.run(main)
heavy = ("mcp", "uvicorn", "starlette")
print(json.dumps({
    "command": args.handler.__module__,
    "imported": sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}),
}))
"""


def _imported_by_run(directory: Path, mcp: dict[str, object]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(directory), json.dumps(mcp)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_run_without_mcp_builds_and_runs_the_service_without_importing_the_mcp_sdk(
    tmp_path: Path,
) -> None:
    result = _imported_by_run(tmp_path, {"enabled": False})

    assert result == {"command": "claudescale.cli.run_cmd", "imported": []}


def test_the_probe_sees_the_mcp_sdk_when_run_has_mcp_enabled(tmp_path: Path) -> None:
    result = _imported_by_run(tmp_path, {"enabled": True})

    assert "mcp" in result["imported"]  # type: ignore[operator]
