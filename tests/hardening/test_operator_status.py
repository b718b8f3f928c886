"""Issue 9, "Logs and commands": ``claudescale status`` shows each workload like
``kubectl describe hpa`` (replicas, bounds, CPU, cooldowns left, last decisions, pending
approvals), from the running service's ``/status`` or, without one, from its state files;
``--json`` prints the same document for machines."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from claudescale.adapters.system_clock import SystemClock
from claudescale.cli.main import main
from claudescale.cli.status_cmd import render
from claudescale.config import load_settings
from claudescale.core.values import Code, Outcome, Source
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness, up
from claudescale.testing.sandbox import running_service
from claudescale.testing.waits import wait_until


@pytest.fixture(autouse=True)
def no_config_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAUDESCALE_CONFIG", raising=False)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path, mode: str, port: int) -> Path:
    config = tmp_path / "claudescale.yaml"
    config.write_text(
        f"mode: {mode}\n"
        f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n"
        f"loop: {{interval_s: 0.2}}\n"
        f"service: {{port: {port}}}\n"
        "cluster: {namespaces: [shop]}\n"
    )
    return config


async def status_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert await anyio.to_thread.run_sync(main, ["status", *argv]) == 0
    return capsys.readouterr().out


async def test_status_without_a_service_reads_the_state_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "autonomous", closed_port())
    clock = ManualClock(start=time.monotonic(), wall_start=time.time())
    cluster = ScriptedCluster(clock)
    cluster.add(REF, 3).cpu_percent = 85.0
    w = Harness(clock, cluster, load_settings(config, environ={}))
    async with w.running() as executor:
        pending = await executor.submit(up(4, 3, source=Source.CLI, actor="cli:ops"))
        assert (await executor.submit(up(4, 3))).outcome is Outcome.EXECUTED
    assert pending.code is Code.APPROVAL_REQUIRED  # a person's change waits for a person
    document = orjson.loads(await status_of(["--config", str(config), "--json"], capsys))
    assert document["source"] == "state"
    [web] = document["workloads"]
    assert web["workload"] == "shop/web"
    assert (web["replicas"], web["min_replicas"], web["max_replicas"]) == (4, 2, 5)
    assert web["cpu_percent"] == 85.0
    assert 80.0 < web["cooldown_up_s_left"] <= 90.0
    assert [d["code"] for d in web["last_decisions"]] == ["ok", "approval_required"]
    assert [a["id"] for a in web["pending_approvals"]] == [pending.approval_id]

    text = await status_of(["--config", str(config)], capsys)
    assert "No service answered" in text
    for expected in ("shop/web", "Bounds:", "2 to 5", "85% of requests"):
        assert expected in text, text
    # The scale-up cooldown started at the write a moment ago: 81 to 90 s are left.
    assert re.search(r"scale-up (8[1-9]|90)(\.\d)? s", text), text
    assert pending.approval_id in text and "3→4" in text


async def test_status_asks_the_running_service_for_its_latest_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "supervised", 0)
    settings = load_settings(config, environ={})
    cluster = ScriptedCluster(SystemClock())
    cluster.add(REF, 3).cpu_percent = 90.0
    async with running_service(settings, cluster, cluster) as service:

        def has_pending() -> bool:
            return bool(service.executor.control.approvals.list())

        await wait_until(has_pending, 20, "a pending approval")
        url = f"http://127.0.0.1:{service.health_port}"
        out = await status_of(["--config", str(config), "--url", url, "--json"], capsys)
    document: dict[str, Any] = orjson.loads(out)
    assert document["source"] == "service" and document["mode"] == "supervised"
    [web] = document["workloads"]
    assert (web["replicas"], web["cpu_percent"]) == (3, 90.0)
    assert web["pending_approvals"] and web["pending_approvals"][0]["from"] == 3
    assert web["last_decisions"][0]["code"] == "approval_required"


def test_status_without_settings_or_a_service_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    status = main(["status", "--url", f"http://127.0.0.1:{closed_port()}"])
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert "CLAUDESCALE_CONFIG" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_workload_names_the_command_that_lifts_the_stop() -> None:
    document = {
        "source": "service",
        "mode": "autonomous",
        "workloads": [{"workload": "shop/web", "replicas": 3, "external_controller": True}],
    }
    text = render(document, now_wall_s=0.0)
    [stops] = [line for line in text.splitlines() if line.startswith("Stops:")]
    assert stops.endswith("claudescale clear-external shop/web)"), stops
