"""Confirmation tokens and approvals: single use, expiring, bound to the exact change, refused
with a distinct code and an audit record, and surviving a restart."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from claudescale.control.approval_values import Status, token_sha256
from claudescale.control.approvals import ApprovalStore
from claudescale.control.change_requests import approved_proposal
from claudescale.control.state_file import LockedDocument
from claudescale.core.values import Code, Outcome, Source, Verdict, WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.errors import StateError
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up

MCP = "mcp:claude-desktop"
USER = "user:claude-desktop"  # the person answering the MCP client's elicitation


def kinds_in_order(w: ScriptedHarness, approval_id: str) -> list[str]:
    return [
        r["kind"]
        for r in w.records()
        if r.get("approval_id") == approval_id or r["kind"] in ("intent", "outcome", "snapshot")
    ]


async def ask(
    executor: Executor, *, target: int = 4, seen: int = 3, source: Source = Source.RULES
) -> Verdict:
    verdict = await executor.submit(up(target, seen, source=source, actor=MCP))
    assert verdict.outcome is Outcome.PENDING, verdict.message
    return verdict


async def test_a_token_has_256_bits_from_secrets_and_is_stored_only_as_its_hash(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        first = await ask(executor, source=Source.MCP_CLIENT)
        second = await ask(executor, source=Source.MCP_CLIENT)
    stored = (w.state_dir / "approvals.json").read_text()
    for verdict in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", verdict.confirmation_token)  # 32 bytes
        assert verdict.confirmation_token not in stored
        assert token_sha256(verdict.confirmation_token) in stored
        assert verdict.confirmation_token not in w.audit_path.read_text()
    assert first.confirmation_token != second.confirmation_token
    assert first.approval_id != second.approval_id


async def test_an_approved_change_is_carried_out_once_and_audited_in_order(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor)
        store = w.approvals
        decided = store.approve(pending.approval_id, actor="cli:alice", reason="peak sale")
        carried_out = await executor.process_approvals()
        again = await executor.process_approvals()
    assert decided.ok
    assert [v.code for v in carried_out] == [Code.OK] and again == []
    assert w.workload().replicas == 4 and len(w.workload().writes) == 1
    assert kinds_in_order(w, pending.approval_id) == [
        "approval_requested",
        "approval_granted",
        "approval_used",
        "snapshot",
        "intent",
        "outcome",
    ]
    granted = w.records("approval_granted")[0]
    assert (granted["actor"], granted["source"], granted["reason"]) == (
        "cli:alice",
        "cli",
        "peak sale",
    )
    assert w.records("intent")[0]["approval_id"] == pending.approval_id
    assert store.get(pending.approval_id).status is Status.USED  # type: ignore[union-attr]


async def test_the_mcp_path_confirms_with_the_token_and_a_reused_token_is_refused(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous")
    async with w.running() as executor:
        pending = await ask(executor, source=Source.MCP_CLIENT)
        store = w.approvals
        token = pending.confirmation_token
        assert store.approve(pending.approval_id, actor=USER, token=token).ok
        carry = up(
            4,
            3,
            source=Source.MCP_CLIENT,
            actor=MCP,
            approval_id=pending.approval_id,
            approval_token=token,
        )
        done = await executor.submit(carry)
        reused = await executor.submit(replace(carry, from_replicas=4, target_replicas=5))
        approve_again = store.approve(pending.approval_id, actor=USER, token=token)
        await executor.process_approvals()  # the next cycle copies the refusal to the audit log
    assert done.code is Code.OK
    assert reused.code is Code.APPROVAL_USED and approve_again.code is Code.APPROVAL_USED
    assert w.workload().replicas == 4
    refused = [r["code"] for r in w.records("approval_refused")]
    assert refused == ["approval_used", "approval_used"]


async def test_an_expired_approval_is_refused_after_5_minutes(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        late, in_time = await ask(executor), await ask(executor, target=5)
        store = w.approvals
        w.clock.advance(299.9)
        assert store.approve(in_time.approval_id, actor="cli:alice").ok
        w.clock.advance(0.1)
        refused = store.approve(late.approval_id, actor="cli:alice")
        carried_out = await executor.process_approvals()  # approved in time, but not used in time
        forced = await executor.submit(up(5, 3, approval_id=in_time.approval_id))
    assert refused.code is Code.APPROVAL_EXPIRED
    assert carried_out == [] and forced.code is Code.APPROVAL_EXPIRED
    assert store.get(in_time.approval_id).status is Status.EXPIRED  # type: ignore[union-attr]
    assert w.workload().writes == []
    assert {r["approval_id"] for r in w.records("approval_expired")} == {
        late.approval_id,
        in_time.approval_id,
    }


async def test_an_approval_in_a_production_namespace_lasts_10_minutes(tmp_path: Path) -> None:
    prod = WorkloadRef("prod", "web")
    w = Harness.scripted(tmp_path, refs=(prod,))
    async with w.running() as executor:
        first = await executor.submit(up(4, 3, ref=prod))
        second = await executor.submit(up(5, 3, ref=prod))
        store = w.approvals
        w.clock.advance(599)
        in_time = store.approve(first.approval_id, actor="cli:alice")
        w.clock.advance(1)
        late = store.approve(second.approval_id, actor="cli:alice")
    assert "600 s" in first.message
    assert in_time.ok and late.code is Code.APPROVAL_EXPIRED


async def test_a_tampered_token_or_an_unknown_id_is_refused_as_invalid(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor, source=Source.MCP_CLIENT)
        token = pending.confirmation_token
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        store = w.approvals
        by_token = store.approve(pending.approval_id, actor=USER, token=tampered)
        unknown = store.approve("a-0000000000", actor=USER)
        forged = await executor.submit(
            up(
                4,
                3,
                source=Source.MCP_CLIENT,
                approval_id=pending.approval_id,
                approval_token=tampered,
            )
        )
        w.flush_decisions()
    assert by_token.code is unknown.code is forged.code is Code.APPROVAL_INVALID
    assert store.get(pending.approval_id).status is Status.PENDING  # type: ignore[union-attr]
    refusals = w.records("approval_refused")
    assert sorted(r["approval_id"] for r in refusals) == sorted(
        [pending.approval_id, "a-0000000000", pending.approval_id]
    )
    assert all(r["code"] == "approval_invalid" and r["actor"] for r in refusals)
    assert w.workload().writes == []


async def test_an_approval_for_a_workload_that_changed_since_is_refused_as_mismatch(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        store = w.approvals
        touched = await ask(executor)
        store.approve(touched.approval_id, actor="cli:alice")
        w.cluster.touch(REF)  # anything that moves the resourceVersion
        after_touch = await executor.process_approvals()

        rescaled = await ask(executor, target=5)
        store.approve(rescaled.approval_id, actor="cli:alice")
        w.cluster.set_replicas_externally(REF, 4)
        after_rescale = await executor.process_approvals()

        recreated = await ask(executor, seen=4, target=5)
        store.approve(recreated.approval_id, actor="cli:alice")
        w.workload().uid = "uid-new"
        after_recreate = await executor.process_approvals()
    for verdicts in (after_touch, after_rescale, after_recreate):
        assert [v.code for v in verdicts] == [Code.APPROVAL_MISMATCH]
    assert w.workload().writes == []
    assert store.approved() == []


async def test_an_approval_cannot_carry_out_another_target_or_workload(tmp_path: Path) -> None:
    other = WorkloadRef("shop", "api")
    w = Harness.scripted(tmp_path, refs=(REF, other))
    async with w.running() as executor:
        pending = await ask(executor)
        w.approvals.approve(pending.approval_id, actor="cli:alice")
        bigger = await executor.submit(up(5, 3, approval_id=pending.approval_id))
        elsewhere = await executor.submit(up(4, 3, ref=other, approval_id=pending.approval_id))
    assert bigger.code is elsewhere.code is Code.APPROVAL_MISMATCH
    assert w.workload().writes == [] and w.workload(other).writes == []


async def test_a_pending_approval_is_not_enough_to_write(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor, source=Source.MCP_CLIENT)
        attempt = await executor.submit(
            up(
                4,
                3,
                source=Source.MCP_CLIENT,
                approval_id=pending.approval_id,
                approval_token=pending.confirmation_token,
            )
        )
        still = w.approvals.get(pending.approval_id)
    assert (attempt.code, attempt.outcome) == (Code.APPROVAL_REQUIRED, Outcome.BLOCKED)
    assert still is not None and still.status is Status.PENDING
    assert w.workload().writes == []


async def test_a_rejected_approval_is_never_carried_out(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor)
        store = w.approvals
        assert store.reject(pending.approval_id, actor="cli:bob", reason="not now").ok
        nothing = await executor.process_approvals()
        forced = await executor.submit(up(4, 3, approval_id=pending.approval_id))
        late_approval = store.approve(pending.approval_id, actor="cli:alice")
    assert nothing == [] and forced.code is Code.APPROVAL_REJECTED
    assert late_approval.code is Code.APPROVAL_REJECTED
    rejected = w.records("approval_rejected")
    assert [(r["actor"], r["reason"]) for r in rejected] == [("cli:bob", "not now")]
    assert w.workload().writes == []


async def test_approvals_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor, source=Source.MCP_CLIENT)
    w.clock.advance(60)
    async with w.running() as executor:
        store = w.approvals
        decided = store.approve(pending.approval_id, actor=USER, token=pending.confirmation_token)
        verdicts = await executor.process_approvals()
    assert decided.ok and [v.code for v in verdicts] == [Code.OK]
    assert w.workload().replicas == 4
    assert kinds_in_order(w, pending.approval_id).index("approval_granted") < kinds_in_order(
        w, pending.approval_id
    ).index("intent")


async def test_a_wall_clock_moved_back_never_stretches_an_approval(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor)
        w.clock.jump_wall(-3600)
        refused = w.approvals.approve(pending.approval_id, actor="cli:alice")
    assert refused.code is Code.APPROVAL_EXPIRED


def test_after_a_reboot_expiry_follows_the_wall_clock(tmp_path: Path) -> None:
    path = tmp_path / "approvals.json"
    before = ManualClock(start=50.0, epoch="boot-1")
    approval, _ = ApprovalStore(path, before).create(change("x"), ttl_s=300.0, reuse_pending=False)
    after = ManualClock(start=5.0, wall_start=before.wall() + 299.0, epoch="boot-2")
    assert ApprovalStore(path, after).check(approval.id, change_sha256="x").ok
    after.advance(1.0)
    assert ApprovalStore(path, after).check(approval.id, change_sha256="x").code is (
        Code.APPROVAL_EXPIRED
    )


def test_an_approval_is_used_once_even_by_two_processes_sharing_the_store(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "approvals.json"
    approval, _ = ApprovalStore(path, clock).create(change("h"), ttl_s=300, reuse_pending=False)
    ApprovalStore(path, clock).approve(approval.id, actor="cli:alice")
    first = ApprovalStore(path, clock).consume(approval.id, change_sha256="h", actor="rules")
    second = ApprovalStore(path, clock).consume(approval.id, change_sha256="h", actor="rules")
    assert first.ok and second.code is Code.APPROVAL_USED


async def test_the_guardrails_refusing_an_approved_change_close_its_approval(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor)
        store = w.approvals
        store.approve(pending.approval_id, actor="cli:alice")
        w.workload().paused = True  # paused by an operator: waiting will not change it
        paused = await executor.process_approvals()
        later = await executor.process_approvals()
    assert [v.code for v in paused] == [Code.PAUSED] and later == []
    assert store.get(pending.approval_id).status is Status.FAILED  # type: ignore[union-attr]
    assert [r["code"] for r in w.records("approval_failed")] == ["paused"]


async def test_processing_approvals_is_a_no_op_when_nothing_is_approved(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        await ask(executor)
        count = len(w.records())
        verdicts = [await executor.process_approvals() for _ in range(3)]
        assert len(w.records()) == count
    assert verdicts == [[], [], []]
    assert w.workload().writes == []


async def test_a_decision_made_elsewhere_is_audited_before_the_change_it_allows(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running() as executor:
        pending = await ask(executor)
        cli_store = ApprovalStore(w.state_dir / "approvals.json", ManualClock())
        cli_store.approve(pending.approval_id, actor="cli:carol")
        await executor.process_approvals()
    records = w.records()
    granted = next(r for r in records if r["kind"] == "approval_granted")
    intent = next(r for r in records if r["kind"] == "intent")
    assert granted["actor"] == "cli:carol" and granted["seq"] < intent["seq"]
    approval = w.approvals.get(pending.approval_id)
    assert approval is not None and approved_proposal(approval).approval_id == approval.id


def change(digest: str) -> dict[str, object]:
    return {
        "workload": "shop/web",
        "uid": "u",
        "from": 3,
        "to": 4,
        "resource_version": "7",
        "change_sha256": digest,
        "action": "scale_up",
        "reason": "cpu",
        "source": "rules",
        "actor": "rules",
    }


async def test_an_unreadable_approvals_file_fails_closed(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path)
    w.state_dir.mkdir(parents=True)
    (w.state_dir / "approvals.json").write_text("{not json")
    async with w.running() as executor:
        verdict = await executor.submit(up(4, 3))
        processed = await executor.process_approvals()
    assert verdict.code is Code.WRITE_FAILED and "not valid JSON" in verdict.message
    assert processed == [] and w.workload().writes == []
    assert len(w.records("approvals_unavailable")) == 1


def test_a_failed_save_leaves_the_previous_approvals_intact(tmp_path: Path) -> None:
    path = tmp_path / "approvals.json"
    with LockedDocument(path).transaction() as doc:
        doc["approvals"] = [{"id": "a-1"}]

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with (
        pytest.raises(StateError, match="Cannot write the state file"),
        LockedDocument(path, fsync=failing_fsync).transaction() as doc,
    ):
        doc["approvals"] = []
    assert LockedDocument(path).read() == {"approvals": [{"id": "a-1"}]}


@pytest.mark.parametrize("actor", [MCP, "model_provider", "rules", "mcp:claude-desktop"])
async def test_a_model_or_an_mcp_client_cannot_approve_any_change(
    tmp_path: Path, actor: str
) -> None:
    w = Harness.scripted(tmp_path, mode="supervised")
    async with w.running() as executor:
        pending = await ask(executor, source=Source.MCP_CLIENT)
        store = w.approvals
        refused = store.approve(pending.approval_id, actor=actor, token=pending.confirmation_token)
        await executor.process_approvals()
    assert refused.code is Code.APPROVAL_INVALID
    assert store.get(pending.approval_id).status is Status.PENDING  # type: ignore[union-attr]
    assert w.workload().replicas == 3


async def test_an_mcp_user_approval_needs_the_token(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="supervised")
    async with w.running() as executor:
        pending = await ask(executor, source=Source.MCP_CLIENT)
        refused = w.approvals.approve(pending.approval_id, actor=USER)
    assert refused.code is Code.APPROVAL_INVALID


async def test_an_approved_change_can_still_be_withdrawn_before_it_runs(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="supervised")
    async with w.running() as executor:
        pending = await ask(executor)
        store = w.approvals
        assert store.approve(pending.approval_id, actor="cli:alice").ok
        assert store.reject(pending.approval_id, actor="cli:bob").ok
        carried = await executor.process_approvals()
    assert carried == []
    assert w.workload().replicas == 3
