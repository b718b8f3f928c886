"""Crash safety: a process killed with SIGKILL between intent and outcome loses nothing,
duplicates nothing, leaves a verifying chain, and its interrupted write still counts for the
cooldowns after a restart."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import iter_records, verify
from claudescale.config import parse_settings
from claudescale.core.values import Code
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness
from claudescale.testing.harness import down as scale_down
from claudescale.testing.harness import up as scale_up

ROOT = Path(__file__).parents[2]
CHILD_DEADLINE_S = 30.0
"""Real seconds the child may take to start, write once and hang, and then to die."""


async def kill_child_mid_write(audit_path: Path) -> None:
    command = [sys.executable, "-m", "tests.executor.crash_child", str(audit_path)]
    with anyio.fail_after(CHILD_DEADLINE_S):
        async with await anyio.open_process(command, cwd=ROOT) as child:
            assert child.stdout is not None
            stdout = BufferedByteReceiveStream(child.stdout)
            lines = [(await stdout.receive_until(b"\n", 1024)).strip() for _ in range(2)]
            assert lines == [b"ok", b"HANGING"]
            child.kill()
            assert await child.wait() == -signal.SIGKILL


async def test_sigkill_between_intent_and_outcome_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    audit_path = tmp_path / "audit.jsonl"
    await kill_child_mid_write(audit_path)

    before = list(iter_records(audit_path))
    assert verify(audit_path).ok
    intents = [r for r in before if r["kind"] == "intent"]
    outcomes = [r for r in before if r["kind"] == "outcome"]
    assert [(r["from"], r["to"]) for r in intents] == [(3, 4), (4, 5)]
    assert [r["intent_id"] for r in outcomes] == [intents[0]["intent_id"]]

    # Restart: same boot, so the monotonic clock is comparable with the log's.
    clock = SystemClock()
    cluster = ScriptedCluster(clock)
    workload = cluster.add(REF, 4)  # the hanging write never landed
    workload.cpu_percent = 10.0
    settings = parse_settings({"mode": "autonomous"})
    harness = Harness(clock, cluster, settings, audit_path=audit_path)
    async with harness.running() as executor:  # recovers from the log
        # The interrupted scale-up counts as executed at its intent's time, not only the first.
        assert executor.history(REF).last_scale_up_at == intents[1]["mono"]
        assert intents[1]["mono"] > outcomes[0]["mono"]
        down = await harness.submit(scale_down(3, 4, reason="cpu 10%"))
        up = await harness.submit(scale_up(5, 4, reason="cpu high"))

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
