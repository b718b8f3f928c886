"""``claudescale approvals list``, ``approve`` and ``reject``, out of band: as a one-shot executor
when no service holds the audit log, through the store when one does."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from claudescale.cli.approvals_cmd import approve_change, list_approvals, reject_change
from claudescale.cli.main import COMMAND_MODULES, main
from claudescale.control.approval_values import Status
from claudescale.core.values import Code, WorkloadRef
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up
from claudescale.testing.waits import log_held_elsewhere


async def pending_change(w: ScriptedHarness, target: int = 4) -> str:
    async with w.running() as executor:
        verdict = await executor.submit(up(target, 3))
    assert verdict.code is Code.APPROVAL_REQUIRED
    return verdict.approval_id


def args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"yes": False, "reason": "", "all": False, **values})


def test_the_human_control_commands_are_registered() -> None:
    for module in ("approvals_cmd", "snapshots_cmd", "override_cmd"):
        assert f"claudescale.cli.{module}" in COMMAND_MODULES


async def test_approve_runs_the_change_through_a_one_shot_executor_when_no_service_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path)
    approval_id = await pending_change(w)
    status = await approve_change(args(approval_id=approval_id, reason="sale"), w.cli_context())
    out = capsys.readouterr().out
    assert status == 0, out
    assert approval_id in out and "executed (ok)" in out
    assert w.workload().replicas == 4
    kinds = [r["kind"] for r in w.records("approval_granted", "approval_used", "intent")]
    assert kinds == ["approval_granted", "approval_used", "intent"]
    assert w.records("approval_granted")[0]["actor"] == "cli:tester"


async def test_approve_asks_first_and_a_no_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path)
    approval_id = await pending_change(w)
    status = await approve_change(args(approval_id=approval_id), w.cli_context(answer="n"))
    assert status == 1
    assert "3→4" in capsys.readouterr().out
    approval = w.cli_context().approvals().get(approval_id)
    assert approval is not None and approval.status is Status.PENDING
    assert w.workload().writes == []


async def test_approving_an_unknown_or_expired_approval_is_refused_and_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path)
    approval_id = await pending_change(w)
    w.clock.advance(300)
    expired = await approve_change(args(approval_id=approval_id, yes=True), w.cli_context())
    unknown = await approve_change(args(approval_id="a-nope", yes=True), w.cli_context())
    out = capsys.readouterr().out
    assert expired == unknown == 1
    assert "Refused (approval_expired)" in out and "Refused (approval_invalid)" in out
    refused = {(r["approval_id"], r["code"]) for r in w.records("approval_refused")}
    assert refused == {(approval_id, "approval_expired"), ("a-nope", "approval_invalid")}
    assert w.workload().writes == []


async def test_approve_while_the_service_holds_the_log_leaves_the_change_to_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path)
    approval_id = await pending_change(w)
    async with log_held_elsewhere(w.audit_path):
        status = await approve_change(args(approval_id=approval_id, yes=True), w.cli_context())
        replicas_meanwhile = w.workload().replicas
    assert status == 0 and replicas_meanwhile == 3
    assert "running claudescale service carries it out" in capsys.readouterr().out
    async with w.running() as service:
        verdicts = await service.process_approvals()
    assert [v.code for v in verdicts] == [Code.OK] and w.workload().replicas == 4
    granted = w.records("approval_granted")
    assert granted[0]["actor"] == "cli:tester"
    assert granted[0]["seq"] < w.records("intent")[0]["seq"]


async def test_reject_records_the_decision_in_the_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path)
    approval_id = await pending_change(w)
    status = reject_change(args(approval_id=approval_id, reason="too big"), w.cli_context())
    assert status == 0 and "Rejected" in capsys.readouterr().out
    rejected = w.records("approval_rejected")
    assert [(r["actor"], r["reason"]) for r in rejected] == [("cli:tester", "too big")]
    async with w.running() as executor:
        assert await executor.process_approvals() == []
    assert w.workload().writes == []


async def test_approvals_list_shows_what_waits_and_all_shows_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path)
    waiting = await pending_change(w)
    rejected = await pending_change(w, target=5)
    reject_change(args(approval_id=rejected), w.cli_context())
    capsys.readouterr()
    list_approvals(args(), w.cli_context())
    pending_only = capsys.readouterr().out
    list_approvals(args(all=True), w.cli_context())
    everything = capsys.readouterr().out
    assert waiting in pending_only and rejected not in pending_only
    assert "shop/web 3→4" in pending_only and "medium risk" in pending_only
    assert "expires in 300 s" in pending_only
    assert rejected in everything and "[rejected]" in everything


async def test_the_commands_work_through_main_with_a_settings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() uses the system clock; the approval must not look created in the future.
    w = Harness.scripted(tmp_path, clock=ManualClock(wall_start=time.time()))
    approval_id = await pending_change(w)
    config = tmp_path / "claudescale.yaml"
    config.write_text(f"audit:\n  path: {w.audit_path}\n", encoding="utf-8")
    assert main(["approvals", "list", "--config", str(config)]) == 0
    assert approval_id in capsys.readouterr().out
    assert main(["reject", approval_id, "--config", str(config)]) == 0
    assert [r["approval_id"] for r in w.records("approval_rejected")] == [approval_id]


async def test_a_one_shot_approve_carries_out_only_the_approval_it_was_asked_about(
    tmp_path: Path,
) -> None:
    other = WorkloadRef("shop", "api")
    w = Harness.scripted(tmp_path, refs=(REF, other))
    async with w.running() as executor:
        mine = await executor.submit(up(4, 3))
        theirs = await executor.submit(up(4, 3, ref=other))
        assert w.approvals.approve(theirs.approval_id, actor="cli:bob").ok
    status = await approve_change(args(approval_id=mine.approval_id, yes=True), w.cli_context())
    assert status == 0
    assert w.workload().replicas == 4
    assert w.workload(other).replicas == 3  # bob's approval waits for the service
