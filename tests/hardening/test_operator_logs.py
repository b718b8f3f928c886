"""Issue 9, point 10: every executor verdict is one log line naming the workload, the change,
the code and the sentence, whichever path it came by (the loop, an approval, a rollback, the
CLI, an MCP client), and the loop does not log it a second time."""

from __future__ import annotations

import logging
from argparse import Namespace
from pathlib import Path

import pytest

from claudescale.cli.approvals_cmd import approve_change
from claudescale.core.values import Code, Outcome, Source
from claudescale.testing.harness import Harness, up


def verdict_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "verdict"]


async def test_a_verdict_from_the_cli_is_one_log_line_with_workload_change_code_and_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w = Harness.scripted(tmp_path, mode="autonomous")
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3, source=Source.CLI, actor="cli:ops"))
    assert verdict.outcome is Outcome.PENDING
    [line] = verdict_lines(caplog)
    assert line.getMessage() == verdict.message
    fields = {k: getattr(line, k, None) for k in ("workload", "from", "to", "code", "source")}
    assert fields == {
        "workload": "shop/web",
        "from": 3,
        "to": 4,
        "code": "approval_required",
        "source": "cli",
    }


async def test_an_approved_change_carried_out_later_is_logged_like_any_other_verdict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await executor.submit(up(4, 3))
    caplog.set_level(logging.INFO)
    caplog.clear()
    args = Namespace(approval_id=pending.approval_id, yes=True, reason="sale", all=False)
    assert await approve_change(args, w.cli_context()) == 0
    [line] = verdict_lines(caplog)
    assert (line.workload, line.code) == ("shop/web", Code.OK.value)  # type: ignore[attr-defined]
    assert (getattr(line, "from"), line.to) == (3, 4)  # type: ignore[attr-defined]
    assert "3→4" in line.getMessage()


async def test_a_loop_verdict_is_logged_once_not_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w = Harness.scripted(tmp_path, mode="autonomous", cpu=95.0)
    async with w.running():
        await w.controller().cycle()
    lines = verdict_lines(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].source == "rules"  # type: ignore[attr-defined]
