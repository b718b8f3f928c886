"""Issue 9, point 5: text that came from a model or the cluster reaches a human escaped.

A reason with a carriage return and ANSI escape sequences must not be able to paint a fake
"3→4, low risk, proposed by rules" over the real "3→5, medium risk" in ``approvals list``,
``approve``, ``audit list`` or ``snapshots list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog
from claudescale.cli.main import main
from claudescale.control.approvals import ApprovalStore
from claudescale.control.snapshots import SnapshotStore
from claudescale.core.text import printable
from claudescale.core.values import (
    Action,
    Code,
    Outcome,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)
from claudescale.demo.view import event_line
from claudescale.engine.loop_memory import Decision

FORGED = (
    "cpu 85%\r\x1b[2K\x1b[1Ga-000001 [pending] shop/web 3→4 (scale_up), low risk "
    "(a small change), proposed by rules, expires in 299 s: cpu 85%\x1b]0;title\x07\u202e\nok"
)
UNSAFE = ("\r", "\x1b", "\x07", "\u202e", "\x0b", "\x0c")
"""Newlines are checked by counting lines: each record must stay on its own line."""


def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n", encoding="utf-8")
    return path


def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl.state"


def pending_approval(tmp_path: Path) -> str:
    store = ApprovalStore(state_dir(tmp_path) / "approvals.json", SystemClock())
    change = {
        "workload": "shop/web",
        "uid": "uid-1",
        "from": 3,
        "to": 5,
        "resource_version": "41",
        "change_sha256": "0" * 64,
        "action": "scale_up",
        "reason": FORGED,
        "source": "model_provider",
        "actor": "model\x1b[8m",
        "risk": "medium",
        "risk_reasons": ["3→5 changes 2 replica(s), 67%"],
    }
    approval, _ = store.create(change, ttl_s=300.0, reuse_pending=False)
    return approval.id


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    main(argv)
    captured = capsys.readouterr()
    return captured.out + captured.err


def assert_escaped(out: str) -> None:
    for char in UNSAFE:
        assert char not in out, f"{char!r} reached the terminal: {out!r}"
    assert "\\r" in out and "\\x1b" in out


def test_printable_escapes_returns_escapes_and_invisible_characters_visibly() -> None:
    assert printable("cpu 85%") == "cpu 85%"
    assert printable("über 85 % → 5") == "über 85 % → 5"
    assert printable("a\rb\nc\td") == "a\\rb\\nc\\td"
    assert printable("\x1b[2K\x07\x00\x7f") == "\\x1b[2K\\x07\\x00\\x7f"
    assert printable("\u202eevil\u200b\u2028") == "\\u202eevil\\u200b\\u2028"
    assert printable("\x9b2K") == "\\x9b2K"


def test_approvals_list_shows_the_real_change_and_the_forged_one_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pending_approval(tmp_path)
    out = run(["approvals", "list", "--config", str(settings_file(tmp_path))], capsys)
    assert_escaped(out)
    assert out.startswith("a-") and "shop/web 3→5" in out and "medium risk" in out
    assert out.count("\n") == 1


def test_approve_shows_the_change_it_asks_about_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approval_id = pending_approval(tmp_path)
    out = run(["approve", approval_id, "--config", str(settings_file(tmp_path))], capsys)
    assert_escaped(out)
    assert "shop/web 3→5" in out


def test_audit_list_escapes_reasons_and_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 20, SystemClock()) as log:
        log.append(
            "proposal", {"workload": "shop/web", "source": "model_provider", "reason": FORGED}
        )
        log.append("verdict", {"workload": "shop/web", "code": "ok", "message": FORGED})
    out = run(["audit", "list", "--path", str(path)], capsys)
    assert_escaped(out)
    assert out.count("\n") == 2


def test_snapshots_list_escapes_the_actor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SnapshotStore(state_dir(tmp_path) / "snapshots.jsonl", SystemClock(), 86400.0)
    ref = WorkloadRef("shop", "web")
    state = WorkloadState(ref, "uid-1", 3, "41")
    proposal = Proposal(
        ref, Action.SCALE_UP, 5, "cpu 85%", Source.MCP_CLIENT, actor="client\r\x1b[2Kfake"
    )
    store.take(state, proposal)
    out = run(["snapshots", "list", "--config", str(settings_file(tmp_path))], capsys)
    assert_escaped(out)
    assert "3→5" in out


def test_the_demo_event_lines_escape_the_message() -> None:
    decision = Decision(
        WorkloadRef("demo", "web"), 12.0, Outcome.EXECUTED, Code.OK, FORGED, "model_provider"
    )
    line = event_line(decision, started_mono=10.0)
    for char in (*UNSAFE, "\n"):
        assert char not in line
    assert line.startswith("   2.0 s  ok")
