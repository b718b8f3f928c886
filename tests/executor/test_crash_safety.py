"""Crash safety: a process killed with SIGKILL between intent and outcome loses nothing,
duplicates nothing, leaves a verifying chain, and its interrupted write still counts for the
cooldowns after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog, iter_records, verify
from claudescale.config import parse_settings
from claudescale.core.values import Action, Code, Proposal, Source, WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.testing.cluster import ScriptedCluster

REF = WorkloadRef("shop", "web")
ROOT = Path(__file__).parents[2]


def kill_child_mid_write(audit_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.executor.crash_child", str(audit_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline().strip() for _ in range(2)]
        assert lines == ["ok", "HANGING"]
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.slow
async def test_sigkill_between_intent_and_outcome_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    audit_path = tmp_path / "audit.jsonl"
    await anyio.to_thread.run_sync(kill_child_mid_write, audit_path)

    before = list(iter_records(audit_path))
    assert verify(audit_path).ok
    intents = [r for r in before if r["kind"] == "intent"]
    outcomes = [r for r in before if r["kind"] == "outcome"]
    assert [(r["from"], r["to"]) for r in intents] == [(3, 4), (4, 5)]
    assert [r["intent_id"] for r in outcomes] == [intents[0]["intent_id"]]

    # Restart: same boot, so the monotonic clock is comparable with the log's.
    clock = SystemClock()
    settings = parse_settings({"mode": "autonomous"})
    cluster = ScriptedCluster(clock)
    workload = cluster.add(REF, 4)  # the hanging write never landed
    workload.cpu_percent = 10.0
    audit = AuditLog(audit_path, settings.audit.rotate_bytes, clock)
    executor = Executor(cluster, cluster, audit, clock, settings)
    executor.recover(iter_records(audit_path))
    # The interrupted scale-up counts as executed at its intent's time, not only the first.
    assert executor.history(REF).last_scale_up_at == intents[1]["mono"]
    assert intents[1]["mono"] > outcomes[0]["mono"]
    async with anyio.create_task_group() as tg:
        await tg.start(executor.run)
        down = await executor.submit(
            Proposal(REF, Action.SCALE_DOWN, 3, "cpu 10%", Source.RULES, from_replicas=4)
        )
        up = await executor.submit(
            Proposal(REF, Action.SCALE_UP, 5, "cpu high", Source.RULES, from_replicas=4)
        )
        executor.close()
    audit.close()

    assert down.code is Code.COOLDOWN_DOWN
    assert up.code is Code.COOLDOWN_UP  # the interrupted scale-up counts as executed
    assert workload.writes == []

    after = list(iter_records(audit_path))
    assert verify(audit_path).ok
    assert after[: len(before)] == before  # nothing lost or rewritten
    seqs = [r["seq"] for r in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing duplicated
    closed = [r for r in after if r["kind"] == "outcome" and r["code"] == "unknown"]
    assert [r["intent_id"] for r in closed] == [intents[1]["intent_id"]]
    restarts = [r for r in after if r["kind"] == "restart"]
    assert restarts[-1]["interrupted_intents"] == 1
