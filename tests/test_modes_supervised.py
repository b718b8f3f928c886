"""In supervised mode no proposal path changes replicas without a human approval recorded
first: the loop (any source), replay, the CLI (approve, rollback) and the approvals store the
MCP tools use. Proved from the audit log: every ``intent`` follows an ``approval_granted`` and
an ``approval_used`` for exactly that change, and the replicas do not move before."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from claudescale.cli.approvals_cmd import approve_change
from claudescale.cli.snapshots_cmd import roll_back
from claudescale.core.values import Action, Code, Outcome, Proposal, Source
from claudescale.replay.runner import ReplayRun
from claudescale.replay.scenario import parse_scenario
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up


def assert_every_write_was_approved_first(w: ScriptedHarness) -> int:
    """Every intent has a grant and a use of its approval before it, for the same change, and
    the cluster saw exactly the writes the intents announce. Returns the number of writes."""
    granted: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    intents = 0
    for record in w.records():
        kind = record["kind"]
        if kind == "approval_granted":
            granted[record["approval_id"]] = record
        elif kind == "approval_used":
            used.add(record["approval_id"])
        elif kind == "intent":
            intents += 1
            grant = granted.get(record["approval_id"])
            assert grant is not None, f"intent {record['seq']} has no approval granted before it"
            assert record["approval_id"] in used
            change = (grant["workload"], grant["from"], grant["to"])
            assert change == (record["workload"], record["from"], record["to"])
    assert len(w.workload().writes) == intents
    return intents


async def test_the_loop_cannot_write_in_supervised_mode_whatever_it_sends(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="supervised", replicas=3, guardrails={"cooldown_up_s": 0})
    async with w.running() as executor:
        for source in Source:
            for target in (4, 5):
                verdict = await executor.submit(up(target, 3, source=source, actor="someone"))
                if source is Source.ROLLBACK:  # names no snapshot: refused outright
                    assert verdict.code is Code.INVALID_PROPOSAL
                    continue
                assert verdict.outcome is Outcome.PENDING
                forged = await executor.submit(
                    up(
                        target,
                        3,
                        source=source,
                        approval_id=verdict.approval_id,
                        approval_token=verdict.confirmation_token,
                    )
                )
                invented = await executor.submit(up(target, 3, approval_id="a-0123456789"))
                assert forged.code is Code.APPROVAL_REQUIRED
                assert invented.code is Code.APPROVAL_INVALID
        assert await executor.process_approvals() == []
    assert w.workload().replicas == 3
    assert assert_every_write_was_approved_first(w) == 0


async def test_replay_in_supervised_mode_never_writes(tmp_path: Path) -> None:
    steps = [
        {
            "t": 0,
            "cpu": 90,
            "propose": {"action": "scale_up", "target_replicas": 4, "reason": "cpu 90%"},
        },
        {
            "t": 100,
            "cpu": 95,
            "propose": {"action": "scale_up", "target_replicas": 5, "reason": "cpu 95%"},
        },
        {
            "t": 400,
            "cpu": 10,
            "propose": {"action": "scale_down", "target_replicas": 2, "reason": "cpu 10%"},
        },
        {
            "t": 401,
            "restart": True,
            "cpu": 90,
            "llm_text": '{"action": "scale_up", "target_replicas": 4, "reason": "cpu 90%"}',
        },
    ]
    scenario = parse_scenario({"settings": {"mode": "supervised"}, "steps": steps})
    run = ReplayRun(scenario, tmp_path / "audit.jsonl")
    lines = await run.run(lambda line: None)
    assert [line["code"] for line in lines] == ["approval_required"] * 4
    assert {line["replicas"] for line in lines} == {3}
    assert run.workload.writes == []


async def test_the_cli_and_the_mcp_store_write_only_after_an_approval_is_recorded(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="supervised", replicas=3, guardrails={"cooldown_up_s": 0})
    async with w.running() as executor:
        by_cli = await executor.submit(up(4, 3))
        by_mcp = await executor.submit(up(4, 3, source=Source.MCP_CLIENT, actor="mcp:desktop"))
    assert w.workload().replicas == 3
    # The CLI path (one-shot executor, the human confirms with --yes).
    cli = argparse.Namespace(approval_id=by_cli.approval_id, yes=True, reason="")
    assert await approve_change(cli, w.cli_context()) == 0
    assert w.workload().replicas == 4
    # The store the MCP tools use: a decision with the token, then the executor carries it out;
    # it was made for 3→4 and the workload has moved, so it is refused, not re-aimed.
    async with w.running() as executor:
        store = w.approvals
        assert store.approve(
            by_mcp.approval_id, actor="user:desktop", token=by_mcp.confirmation_token
        ).ok
        [stale] = await executor.process_approvals()
    assert stale.code is Code.APPROVAL_MISMATCH and w.workload().replicas == 4
    # A rollback from the CLI.
    w.workload().cpu_percent = 10.0
    [snapshot] = w.records("snapshot")
    rollback = argparse.Namespace(snapshot_id=snapshot["snapshot_id"], yes=True)
    assert await roll_back(rollback, w.cli_context()) == 0
    assert w.workload().replicas == 3
    assert assert_every_write_was_approved_first(w) == 2


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_sequence_of_proposals_and_decisions_writes_without_a_prior_approval(
    data: st.DataObject,
) -> None:
    """Rounds of: a proposal from any source; a decision (approve, approve with the token,
    reject, forge a proposal carrying some approval, or nothing) on any approval issued so far;
    maybe interference (the object changes, time passes); then the service's cycle."""
    rounds = data.draw(st.integers(1, 6))
    decisions = st.sampled_from(["approve", "approve", "approve_token", "reject", "forge", "none"])
    interference = st.sampled_from(["none", "none", "none", "touch", "wait_200", "wait_400"])

    async def play(w: ScriptedHarness) -> None:
        issued: list[tuple[str, str]] = []
        async with w.running() as executor:
            store = w.approvals
            for _ in range(rounds):
                replicas = w.workload().replicas
                target = data.draw(
                    st.sampled_from([replicas + 1, replicas + 1, replicas + 2, replicas - 1])
                )
                action = Action.SCALE_UP if target > replicas else Action.SCALE_DOWN
                source = data.draw(st.sampled_from(list(Source)))
                verdict = await executor.submit(
                    Proposal(
                        REF,
                        action,
                        target,
                        "cpu is high on ready pods",
                        source,
                        from_replicas=replicas,
                    )
                )
                assert verdict.outcome is not Outcome.EXECUTED
                if verdict.approval_id:
                    issued.append((verdict.approval_id, verdict.confirmation_token))
                decision = data.draw(decisions)
                if issued and decision != "none":
                    approval_id, token = data.draw(st.sampled_from(issued[::-1]))
                    if decision == "forge":
                        forged_token = data.draw(st.sampled_from([token, "x"]))
                        await executor.submit(
                            up(
                                replicas + 1,
                                replicas,
                                approval_id=approval_id,
                                approval_token=forged_token,
                            )
                        )
                    elif decision == "reject":
                        store.reject(approval_id, actor="cli:alice")
                    else:
                        if decision == "approve_token":  # the user answering an elicitation
                            store.approve(approval_id, actor="user:desktop", token=token)
                        else:  # out of band, at the CLI
                            store.approve(approval_id, actor="cli:alice")
                disturb = data.draw(interference)
                if disturb == "touch":
                    w.cluster.touch(REF)
                elif disturb.startswith("wait_"):
                    w.clock.advance(float(disturb.removeprefix("wait_")))
                before = w.workload().replicas
                verdicts = await executor.process_approvals()
                if w.workload().replicas != before:
                    assert any(v.code is Code.OK for v in verdicts)

    with tempfile.TemporaryDirectory() as tmp:
        w = Harness.scripted(
            Path(tmp),
            mode="supervised",
            replicas=3,
            cpu=85.0,
            guardrails={"cooldown_up_s": 0, "max_replicas": 8},
        )
        anyio.run(play, w)
        writes = assert_every_write_was_approved_first(w)
    event(f"writes: {min(writes, 3)}")
    target(float(writes), label="writes")  # steer towards timelines that do write
