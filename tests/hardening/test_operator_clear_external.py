"""Issue 9, point 11 (printed commands run as printed): the ``external_controller`` refusal
tells the operator to run ``claudescale clear-external WORKLOAD``; that command exists, clears
the durable stop with an audit record naming who, and the next change is judged normally.
While the service holds the audit log the lift is left for it, and it lifts the stop at its
next cycle, with the same records."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from claudescale.cli.main import build_parser, main
from claudescale.cli.stops_cmd import clear_external
from claudescale.core.values import Code, Outcome
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up
from claudescale.testing.waits import log_held_elsewhere


async def stopped_world(tmp_path: Path) -> tuple[ScriptedHarness, str]:
    """A workload someone else reverted: the stop is set; returns the refusal's sentence."""
    w = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0, guardrails={"reversion_limit": 1})
    async with w.running() as executor:
        assert (await w.submit(up(4, 3))).outcome is Outcome.EXECUTED
        w.cluster.set_replicas_externally(REF, 3)
        executor.observe([w.cluster.state(REF)], read_started_at=w.clock.now())
        w.clock.advance(100)
        refused = await w.submit(up(4, 3))
    assert refused.code is Code.EXTERNAL_CONTROLLER
    assert w.stores.stops.stopped() == {REF}
    return w, refused.message


def args(workload: str = "shop/web") -> argparse.Namespace:
    return argparse.Namespace(workload=workload, reason="the old cron job is gone", yes=True)


def test_the_command_the_refusal_prints_is_a_command_of_the_cli() -> None:
    parsed = build_parser().parse_args(["clear-external", "shop/web", "--yes"])
    assert parsed.workload == "shop/web"


async def test_clear_external_lifts_the_stop_and_records_who_did_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, sentence = await stopped_world(tmp_path)
    printed = re.search(r"\((claudescale clear-external [^)]+)\)", sentence)
    assert printed is not None, sentence
    assert shlex.split(printed.group(1))[2] == "shop/web"

    assert await clear_external(args(), w.cli_context()) == 0
    assert "shop/web" in capsys.readouterr().out
    assert w.stores.stops.stopped() == frozenset()
    [record] = w.records("external_controller_cleared")
    assert (record["workload"], record["actor"]) == ("shop/web", "cli:tester")

    async with w.running():  # a restart: the log and the stops file agree
        w.clock.advance(100)
        assert (await w.submit(up(4, 3))).outcome is Outcome.EXECUTED


async def test_while_the_service_holds_the_log_the_lift_waits_for_its_next_cycle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, _ = await stopped_world(tmp_path)
    async with log_held_elsewhere(w.audit_path):
        assert await clear_external(args(), w.cli_context()) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "next cycle" in lines[0], lines
    assert w.stores.stops.stopped() == {REF}  # only the service that holds the log lifts it

    async with w.running() as executor:
        w.clock.advance(100)
        assert (await w.submit(up(4, 3))).code is Code.EXTERNAL_CONTROLLER  # still stopped
        await executor.process_approvals()  # the running service's next cycle
        assert w.stores.stops.stopped() == frozenset()
        assert (await w.submit(up(4, 3))).outcome is Outcome.EXECUTED
        await executor.process_approvals()  # a lift is carried out once
    [record] = w.records("external_controller_cleared")
    assert (record["workload"], record["actor"]) == ("shop/web", "cli:tester")
    [note] = w.records("operator_note")
    assert (note["actor"], note["reason"]) == ("cli:tester", "the old cron job is gone")


async def test_while_the_service_runs_a_workload_without_a_stop_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, _ = await stopped_world(tmp_path)
    async with log_held_elsewhere(w.audit_path):
        assert await clear_external(args("shop/other"), w.cli_context()) == 0
    assert (
        capsys.readouterr().out.strip()
        == "shop/other has no external_controller stop; nothing to lift."
    )
    assert w.stores.stops.lift_requests() == {}
    assert w.stores.stops.stopped() == {REF}


def test_a_workload_that_is_not_namespace_slash_name_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n")
    assert main(["clear-external", "web", "--yes", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert len((captured.out + captured.err).strip().splitlines()) == 1
