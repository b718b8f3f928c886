"""Snapshots before every write, kept for the retention period, and rollbacks through the same
gate as any change (bounds, compare-and-swap, confirmation), never delayed by cooldowns."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from claudescale.cli.snapshots_cmd import list_snapshots, roll_back, snapshot_store
from claudescale.control.snapshots import SnapshotStore
from claudescale.core.values import Code
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up
from claudescale.testing.waits import log_held_elsewhere

WEEK_S = 7 * 86400.0


def args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"yes": True, "workload": None, **values})


async def scaled_up(w: ScriptedHarness, *targets: int) -> list[str]:
    """Scale up to each target in turn (autonomous); returns the snapshot IDs taken."""
    async with w.running() as executor:
        for target in targets:
            verdict = await executor.submit(up(target, w.workload().replicas))
            assert verdict.code is Code.OK, verdict.message
    return [s.id for s in snapshot_store(w.cli_context()).list()]


async def test_every_write_is_preceded_by_a_durable_snapshot_of_the_workload(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=4)
    before_rv = w.cluster.state(REF).resource_version
    [snapshot_id] = await scaled_up(w, 5)
    snapshot = snapshot_store(w.cli_context()).get(snapshot_id)
    assert snapshot is not None
    assert (snapshot.workload, snapshot.replicas, snapshot.to_replicas) == ("shop/web", 4, 5)
    assert (snapshot.uid, snapshot.resource_version) == ("uid-shop-web", before_rv)
    assert (snapshot.source, snapshot.actor) == ("rules", "rules")
    kinds = [r["kind"] for r in w.records("snapshot", "intent", "outcome")]
    assert kinds == ["snapshot", "intent", "outcome"]
    assert w.records("intent")[0]["snapshot_id"] == snapshot_id


async def test_snapshots_are_listed_per_workload_oldest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3, guardrails={"cooldown_up_s": 0})
    first, second = await scaled_up(w, 4, 5)
    list_snapshots(args(workload="shop/web"), w.cli_context())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [first, second]
    assert "replicas 3 (before 3→4 by rules" in lines[0]
    list_snapshots(args(workload="shop/api"), w.cli_context())
    assert capsys.readouterr().out == "No snapshots of shop/api.\n"


async def test_snapshots_older_than_the_retention_period_are_pruned(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3, guardrails={"cooldown_up_s": 0})
    [old] = await scaled_up(w, 4)
    w.clock.advance(WEEK_S - 10)
    [_, young] = await scaled_up(w, 5)
    w.clock.advance(11)
    async with w.running() as executor:
        await executor.process_approvals()  # each cycle prunes
    assert [s.id for s in snapshot_store(w.cli_context()).list()] == [young]
    assert old != young


def test_the_retention_period_is_the_setting(tmp_path: Path) -> None:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    cluster.add(REF, 3)
    store = SnapshotStore(tmp_path / "snapshots.jsonl", clock, retention_s=60.0)
    store.take(cluster.state(REF), up(4, 3))
    clock.advance(59)
    assert store.prune() == 0
    clock.advance(2)
    assert store.prune() == 1 and list(store.list()) == []


async def test_a_rollback_restores_the_count_at_once_through_the_gate_with_confirmation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3)
    [snapshot_id] = await scaled_up(w, 4)
    w.workload().cpu_percent = 10.0  # a scale-down still needs our own low CPU reading
    status = await roll_back(args(snapshot_id=snapshot_id), w.cli_context())  # within cooldowns
    out = capsys.readouterr().out
    assert status == 0, out
    assert w.workload().replicas == 3 and w.workload().writes == [(3, 4), (4, 3)]
    records = w.records()
    intent = [r for r in records if r["kind"] == "intent"][-1]
    granted = next(r for r in records if r["kind"] == "approval_granted")
    assert (intent["source"], intent["actor"]) == ("rollback", "cli:tester")
    assert granted["actor"] == "cli:tester" and granted["seq"] < intent["seq"]
    rollback = [r for r in records if r["kind"] == "rollback" and r["code"] == "ok"]
    assert rollback[0]["snapshot_id"] == snapshot_id and rollback[0]["idempotent"] is False


async def test_a_rollback_twice_is_an_idempotent_hold_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3)
    [snapshot_id] = await scaled_up(w, 4)
    w.workload().cpu_percent = 10.0
    first = await roll_back(args(snapshot_id=snapshot_id), w.cli_context())
    second = await roll_back(args(snapshot_id=snapshot_id), w.cli_context())
    assert first == second == 0
    assert "already has 3 replicas" in capsys.readouterr().out
    assert w.workload().writes == [(3, 4), (4, 3)]
    done = [
        (r["code"], r["idempotent"]) for r in w.records("rollback") if r["outcome"] != "pending"
    ]
    assert done == [("ok", False), ("hold", True)]


async def test_a_rollback_is_refused_by_the_guardrails_like_any_other_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3, guardrails={"cooldown_up_s": 0})
    first, _ = await scaled_up(w, 4, 5)
    w.workload().cpu_percent = 10.0
    status = await roll_back(args(snapshot_id=first), w.cli_context())  # 5→3: two at once
    assert status == 1 and "step_too_large" in capsys.readouterr().out
    assert w.workload().replicas == 5


async def test_a_rollback_meets_the_same_compare_and_swap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3)
    [snapshot_id] = await scaled_up(w, 4)
    w.workload().cpu_percent = 10.0
    w.workload().fail_next_write = 409
    status = await roll_back(args(snapshot_id=snapshot_id), w.cli_context())
    assert status == 1 and "conflict" in capsys.readouterr().out
    assert w.workload().replicas == 4


async def test_a_declined_rollback_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3)
    [snapshot_id] = await scaled_up(w, 4)
    w.workload().cpu_percent = 10.0
    context = w.cli_context(answer="no")
    asked: list[str] = []
    context.ask = lambda question: asked.append(question) or "no"
    status = await roll_back(args(snapshot_id=snapshot_id, yes=False), context)
    assert status == 1 and asked == ["Roll shop/web back 4→3? [y/N] "]
    assert w.workload().replicas == 4 and w.records("approval_requested") == []


async def test_a_rollback_of_a_recreated_deployment_or_an_unknown_snapshot_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=3)
    [snapshot_id] = await scaled_up(w, 4)
    w.workload().uid = "uid-recreated"
    recreated = await roll_back(args(snapshot_id=snapshot_id), w.cli_context())
    unknown = await roll_back(args(snapshot_id="s-nope"), w.cli_context())
    out = capsys.readouterr().out
    assert recreated == unknown == 1
    assert "created again" in out and "no snapshot 's-nope'" in out
    assert w.workload().replicas == 4


async def test_a_rollback_while_the_service_runs_is_carried_out_by_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Harness.scripted(tmp_path, mode="supervised", replicas=3)
    async with w.running() as executor:
        pending = await executor.submit(up(4, 3))
        w.approvals.approve(pending.approval_id, actor="cli:alice")
        await executor.process_approvals()
    [snapshot_id] = [s.id for s in snapshot_store(w.cli_context()).list()]
    w.workload().cpu_percent = 10.0
    async with log_held_elsewhere(w.audit_path):
        status = await roll_back(args(snapshot_id=snapshot_id), w.cli_context())
        replicas_meanwhile = w.workload().replicas
    assert status == 0 and replicas_meanwhile == 4
    assert "The running claudescale service carries it out" in capsys.readouterr().out
    async with w.running() as service:
        verdicts = await service.process_approvals()
    assert [v.code for v in verdicts] == [Code.OK] and w.workload().replicas == 3
    intent = w.records("intent")[-1]
    grants = [r for r in w.records("approval_granted") if r["actor"] == "cli:tester"]
    assert intent["source"] == "rollback" and grants[0]["seq"] < intent["seq"]


def test_a_line_cut_by_a_crash_does_not_spoil_the_snapshots_after_it(tmp_path: Path) -> None:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    cluster.add(REF, 3)
    path = tmp_path / "snapshots.jsonl"
    store = SnapshotStore(path, clock, retention_s=60.0)
    first = store.take(cluster.state(REF), up(4, 3))
    with path.open("ab") as stream:
        stream.write(b'{"id": "s-cut", "workl')  # the crash
    second = store.take(cluster.state(REF), up(4, 3))
    assert [s.id for s in store.list()] == [first.id, second.id]


def test_a_damaged_snapshot_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    cluster.add(REF, 3)
    path = tmp_path / "snapshots.jsonl"
    store = SnapshotStore(path, clock, retention_s=60.0)
    first = store.take(cluster.state(REF), up(4, 3))
    with path.open("ab") as stream:
        stream.write(b"not a snapshot\n")
    second = store.take(cluster.state(REF), up(4, 3))
    assert [s.id for s in store.list()] == [first.id, second.id]
    clock.advance(61)
    assert store.prune() == 2
