"""Every human-control setting (``approvals.*`` and ``risk.*``) is read by the running code:
changing it alone changes what the executor or the CLI does."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from claudescale.cli.override_cmd import start_override
from claudescale.config import Settings
from claudescale.config.groups import ApprovalSettings
from claudescale.core.risk import RiskSettings
from claudescale.core.values import Code, WorkloadRef
from claudescale.testing.harness import Harness, up

Probe = Callable[[Path, dict[str, object]], Awaitable[object]]


async def ttl_probe(tmp_path: Path, approvals: dict[str, object]) -> object:
    """Is an approval still usable 250 s after it was requested?"""
    w = Harness.scripted(tmp_path, approvals=approvals)
    async with w.running() as executor:
        pending = await executor.submit(up(4, 3))
        w.clock.advance(250)
        return w.approvals.approve(pending.approval_id, actor="cli:a").code


async def production_ttl_probe(tmp_path: Path, approvals: dict[str, object]) -> object:
    prod = WorkloadRef("prod", "web")
    w = Harness.scripted(tmp_path, refs=(prod,), approvals=approvals)
    async with w.running() as executor:
        pending = await executor.submit(up(4, 3, ref=prod))
        w.clock.advance(450)
        return w.approvals.approve(pending.approval_id, actor="cli:a").code


async def retention_probe(tmp_path: Path, approvals: dict[str, object]) -> object:
    w = Harness.scripted(tmp_path, mode="autonomous", approvals=approvals)
    async with w.running() as executor:
        await executor.submit(up(4, 3))
        w.clock.advance(2 * 86400)
        await executor.process_approvals()
        return len(list(w.snapshots.list()))


async def state_dir_probe(tmp_path: Path, approvals: dict[str, object]) -> object:
    """Where do the approvals land: next to the audit log, or in ../elsewhere?"""
    w = Harness.scripted(tmp_path, approvals=approvals)
    async with w.running() as executor:
        await executor.submit(up(4, 3))
    next_to_the_log = (tmp_path / "audit.jsonl.state" / "approvals.json").exists()
    return next_to_the_log, (tmp_path.parent / "elsewhere" / "approvals.json").exists()


async def kill_switch_probe(tmp_path: Path, approvals: dict[str, object]) -> object:
    """Does a change run while ../custom-switch exists?"""
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=4, approvals=approvals)
    (tmp_path.parent / "custom-switch").write_text("on\n")
    async with w.running() as executor:
        return (await executor.submit(up(5, 4))).code


async def override_max_probe(tmp_path: Path, approvals: dict[str, object]) -> object:
    w = Harness.scripted(tmp_path, approvals=approvals)
    options = argparse.Namespace(
        workload="shop/web", changes=["max_replicas=7"], duration="2h", why="incident 9"
    )
    return start_override(options, w.cli_context())


SETTING_CASES: dict[str, tuple[Probe, dict[str, object]]] = {
    "token_ttl_s": (ttl_probe, {"token_ttl_s": 200.0}),
    "production_token_ttl_s": (production_ttl_probe, {"production_token_ttl_s": 400.0}),
    "snapshot_retention_s": (retention_probe, {"snapshot_retention_s": 86400.0}),
    "state_dir": (state_dir_probe, {"state_dir": "elsewhere"}),
    "kill_switch": (kill_switch_probe, {"kill_switch": True}),
    "kill_switch_file": (kill_switch_probe, {"kill_switch_file": "custom-switch"}),
    "override_max_s": (override_max_probe, {"override_max_s": 600.0}),
}


@pytest.mark.parametrize("key", sorted(SETTING_CASES))
async def test_every_approvals_setting_changes_what_happens(tmp_path: Path, key: str) -> None:
    probe, changed = SETTING_CASES[key]
    changed = {
        k: str(tmp_path / v) if k.endswith(("_dir", "_file")) else v for k, v in changed.items()
    }
    default = await probe(tmp_path / "default", {})
    custom = await probe(tmp_path / "custom", changed)
    assert default != custom, (default, custom)


def test_every_approvals_and_risk_setting_is_covered() -> None:
    assert set(SETTING_CASES) == set(ApprovalSettings.model_fields)
    assert set(Settings.model_fields) >= {"risk", "approvals"}
    assert set(RiskSettings.model_fields) == {  # each has a test in tests/core/test_risk.py
        "production_namespaces",
        "medium_change_percent",
        "high_change_percent",
        "medium_change_replicas",
        "high_change_replicas",
        "frequency_window_s",
        "medium_recent_actions",
        "high_recent_actions",
    }


async def test_the_risk_settings_reach_the_executor(tmp_path: Path) -> None:
    w = Harness.scripted(
        tmp_path, mode="autonomous", replicas=3, risk={"production_namespaces": ["shop"]}
    )
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3))  # medium, raised to high by "production"
    assert verdict.code is Code.APPROVAL_REQUIRED and "production" in verdict.message
