"""Issue 9, point 11: the commands the service prints run as printed. The pending-approval
line names the service's settings file; every command takes ``CLAUDESCALE_CONFIG`` as its
default ``--config``; without either, a command says in one line that no settings were given
and where it looked, and creates nothing in the current directory."""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

import anyio
import pytest

from claudescale.cli.main import main
from claudescale.config import load_settings
from claudescale.control.approval_values import Status
from claudescale.core.values import Code
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up
from claudescale.testing.waits import log_held_elsewhere


@pytest.fixture(autouse=True)
def no_config_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAUDESCALE_CONFIG", raising=False)


def service_config(tmp_path: Path) -> Path:
    config = tmp_path / "etc" / "claudescale.yaml"
    config.parent.mkdir()
    config.write_text(f"mode: supervised\naudit: {{path: {tmp_path / 'var' / 'audit.jsonl'}}}\n")
    return config


def world_of(config: Path) -> ScriptedHarness:
    """A world whose clock agrees with the system's, which the CLI's commands read."""
    clock = ManualClock(start=time.monotonic(), wall_start=time.time())
    cluster = ScriptedCluster(clock)
    cluster.add(REF, 3).cpu_percent = 85.0
    return Harness(clock, cluster, load_settings(config, environ={}))


def printed_command(message: str) -> list[str]:
    found = re.search(r"`(claudescale approve [^`]+)`", message)
    assert found is not None, message
    return shlex.split(found.group(1))


def test_settings_come_from_claudescale_config_when_no_file_is_named(tmp_path: Path) -> None:
    config = service_config(tmp_path)
    settings = load_settings(None, environ={"CLAUDESCALE_CONFIG": str(config)})
    assert settings.audit.path == tmp_path / "var" / "audit.jsonl"
    assert settings.source_path == config.resolve()
    assert load_settings(None, environ={}).source_path is None


async def test_the_printed_approve_command_runs_as_printed_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = service_config(tmp_path)
    w = world_of(config)
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3))
    assert verdict.code is Code.APPROVAL_REQUIRED
    argv = printed_command(verdict.message)
    assert argv[0] == "claudescale" and "--config" in argv
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    async with log_held_elsewhere(w.audit_path):  # the service is running
        status = await anyio.to_thread.run_sync(main, [*argv[1:], "--yes"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert w.approvals.get(verdict.approval_id).status is Status.APPROVED  # type: ignore[union-attr]
    assert list(elsewhere.iterdir()) == []


async def test_approvals_list_finds_the_service_through_claudescale_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = service_config(tmp_path)
    w = world_of(config)
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3))
    monkeypatch.setenv("CLAUDESCALE_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    assert await anyio.to_thread.run_sync(main, ["approvals", "list"]) == 0
    assert verdict.approval_id in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["approvals", "list"],
        ["approve", "a-123", "--yes"],
        ["reject", "a-123"],
        ["snapshots", "list"],
        ["override", "list"],
    ],
)
def test_without_settings_a_command_says_so_in_one_line_and_creates_nothing(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert status == 2, lines
    assert len(lines) == 1, lines
    assert "CLAUDESCALE_CONFIG" in lines[0] and "--config" in lines[0]
    assert str(tmp_path) in lines[0]  # where it looked
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["audit", "list"], ["audit", "export"]])
def test_reading_the_audit_log_without_settings_names_where_it_looked_and_why(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    [line] = (captured.out + captured.err).strip().splitlines()
    assert str(tmp_path / "claudescale-audit.jsonl") in line
    assert "CLAUDESCALE_CONFIG" in line
    assert list(tmp_path.iterdir()) == []
