"""Modes through the real executor: observe writes nothing, supervised waits for a human on
every change, autonomous runs what is inside the guardrails and sends risky changes to a
human; the kill switch puts everything into observe at once, without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudescale.config import Settings, load_settings
from claudescale.config.groups import Mode
from claudescale.control.approval_values import Status
from claudescale.core.values import Code, Outcome, Source, WorkloadRef
from claudescale.testing.harness import Harness, up


def test_the_default_mode_for_a_real_cluster_is_supervised() -> None:
    assert Settings().mode is Mode.SUPERVISED
    assert load_settings(None, environ={}).mode is Mode.SUPERVISED


async def test_observe_mode_records_a_dry_run_and_writes_nothing(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="observe")
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3))
    assert (verdict.outcome, verdict.code) == (Outcome.BLOCKED, Code.DRY_RUN)
    assert "observe mode" in verdict.message
    assert w.workload().writes == [] and w.records("intent") == []
    assert [r["code"] for r in w.records("verdict")] == ["dry_run"]


async def test_supervised_mode_makes_every_change_wait_for_an_approval_it_names(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="supervised")
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3))
        store = w.approvals
    assert (verdict.outcome, verdict.code) == (Outcome.PENDING, Code.APPROVAL_REQUIRED)
    assert verdict.approval_id and verdict.approval_id in verdict.message
    assert "supervised mode" in verdict.message
    approval = store.get(verdict.approval_id)
    assert approval is not None and approval.status is Status.PENDING
    assert (approval.from_replicas, approval.to_replicas) == (3, 4)
    assert w.workload().writes == [] and w.records("intent") == []
    requested = w.records("approval_requested")
    assert [r["approval_id"] for r in requested] == [verdict.approval_id]
    assert requested[0]["actor"] == "rules" and requested[0]["source"] == "rules"


async def test_the_loop_asking_again_for_the_same_change_reuses_its_pending_approval(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="supervised")
    async with w.running() as executor:
        first = await executor.submit(up(4, 3))
        second = await executor.submit(up(4, 3))
        other = await executor.submit(up(5, 3))
        pending = w.approvals.list()
    assert first.approval_id == second.approval_id != other.approval_id
    assert second.confirmation_token == "" and first.confirmation_token
    assert len(pending) == 2


async def test_autonomous_mode_runs_a_low_risk_change_inside_the_guardrails(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=4)
    async with w.running() as executor:
        verdict = await executor.submit(up(5, 4))
    assert (verdict.outcome, verdict.code) == (Outcome.EXECUTED, Code.OK)
    assert w.workload().replicas == 5
    assert w.records("approval_requested") == []


async def test_autonomous_mode_sends_a_high_risk_change_to_a_human(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=2)
    async with w.running() as executor:
        verdict = await executor.submit(up(5, 2))
    assert (verdict.outcome, verdict.code) == (Outcome.PENDING, Code.APPROVAL_REQUIRED)
    assert "high risk" in verdict.message and "2→5" in verdict.message
    assert w.workload().replicas == 2


async def test_autonomous_mode_sends_a_production_change_to_a_human(tmp_path: Path) -> None:
    prod = WorkloadRef("shop-prod", "web")
    w = Harness.scripted(tmp_path, mode="autonomous", refs=(prod,))
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3, ref=prod))
    assert verdict.code is Code.APPROVAL_REQUIRED
    assert "production" in verdict.message
    assert w.workload(prod).replicas == 3


async def test_frequent_changes_send_the_next_one_to_a_human_in_autonomous_mode(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(
        tmp_path,
        mode="autonomous",
        replicas=4,
        guardrails={"cooldown_up_s": 0, "cooldown_down_s": 0, "max_replicas": 10},
        risk={"medium_recent_actions": 1, "high_recent_actions": 2},
    )
    codes = []
    async with w.running() as executor:
        for target in (5, 6, 7):
            w.clock.advance(10)
            verdict = await executor.submit(up(target, w.workload().replicas))
            codes.append(verdict.code)
    assert codes == [Code.OK, Code.OK, Code.APPROVAL_REQUIRED]
    assert w.workload().replicas == 6


async def test_a_critical_workload_is_refused_and_an_allow_listed_one_still_needs_a_human(
    tmp_path: Path,
) -> None:
    redis = WorkloadRef("data", "redis-cache")
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=4, refs=(redis,))
    async with w.running() as executor:
        refused = await executor.submit(up(5, 4, ref=redis))
    allowed = Settings.model_validate(
        {**w.settings.model_dump(), "guardrails": {"critical_allow": ["data/redis-cache"]}}
    )
    async with w.running(allowed) as executor:
        waiting = await executor.submit(up(5, 4, ref=redis))
    assert refused.code is Code.CRITICAL_WORKLOAD
    assert (waiting.code, waiting.outcome) == (Code.APPROVAL_REQUIRED, Outcome.PENDING)
    assert "critical risk" in waiting.message
    assert w.workload(redis).writes == []


@pytest.mark.parametrize("source", [Source.MCP_CLIENT, Source.CLI])
async def test_a_change_a_person_asked_for_waits_for_their_confirmation_in_autonomous_mode(
    tmp_path: Path, source: Source
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=4)
    async with w.running() as executor:
        verdict = await executor.submit(up(5, 4, source=source, actor="mcp:claude-desktop"))
    assert verdict.code is Code.APPROVAL_REQUIRED
    assert verdict.confirmation_token  # handed to the requester, never to the audit log
    assert verdict.confirmation_token not in w.audit_path.read_text()
    assert w.workload().replicas == 4


@pytest.mark.parametrize("rollback_of", ["", "s-does-not-exist"])
async def test_a_rollback_that_names_no_snapshot_of_its_target_is_refused(
    tmp_path: Path, rollback_of: str
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=4)
    async with w.running() as executor:
        verdict = await executor.submit(up(5, 4, source=Source.ROLLBACK, rollback_of=rollback_of))
    assert verdict.code is Code.INVALID_PROPOSAL  # it may not borrow the cooldown exemption
    assert w.workload().replicas == 4


@pytest.mark.parametrize("mode", ["observe", "supervised", "autonomous"])
async def test_the_kill_switch_setting_puts_every_mode_into_observe(
    tmp_path: Path, mode: str
) -> None:
    w = Harness.scripted(tmp_path, mode=mode, replicas=4, approvals={"kill_switch": True})
    async with w.running() as executor:
        verdict = await executor.submit(up(5, 4))
    assert verdict.code is Code.DRY_RUN
    assert w.workload().writes == []


async def test_the_kill_switch_file_flips_without_a_restart(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3, guardrails={"cooldown_up_s": 0})
    switch = w.state_dir / "kill-switch"
    async with w.running() as executor:
        switch.parent.mkdir(parents=True, exist_ok=True)
        switch.write_text('{"actor": "cli:alice"}\n')
        stopped = await executor.submit(up(4, 3))
        switch.unlink()
        resumed = await executor.submit(up(4, 3))
    assert stopped.code is Code.DRY_RUN and "kill switch" in stopped.message
    assert resumed.code is Code.OK and w.workload().replicas == 4
    flips = [(r["on"], r["actor"]) for r in w.records("kill_switch")]
    assert flips == [(True, "cli:alice"), (False, "operator")]


async def test_the_kill_switch_holds_back_approved_changes_until_it_is_off(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="supervised")
    switch = w.state_dir / "kill-switch"
    async with w.running() as executor:
        pending = await executor.submit(up(4, 3))
        w.approvals.approve(pending.approval_id, actor="cli:alice")
        switch.write_text("on\n")
        held_back = await executor.process_approvals()
        replicas_while_on = w.workload().replicas
        switch.unlink()
        carried_out = await executor.process_approvals()
    assert held_back == [] and replicas_while_on == 3
    assert [v.code for v in carried_out] == [Code.OK]
    assert w.workload().replicas == 4
