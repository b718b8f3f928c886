"""The start-up snapshot of the recovered state (``<log>.state``): a restart from it remembers
exactly what a full recovery remembers, and any doubt about it falls back to the full path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudescale.audit import verify
from claudescale.audit.reader import iter_records
from claudescale.audit.resume import resume
from claudescale.audit.state import STATE_KIND, read_state, state_path, write_state
from claudescale.core.values import Code, History, WorkloadRef
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up

API = WorkloadRef("shop", "api")
DB = WorkloadRef("shop", "db")
REFS = (REF, API, DB)


def harness(directory: Path, *, full: bool = False, **audit_settings: Any) -> ScriptedHarness:
    audit = {
        "path": str(directory / "audit.jsonl"),
        "full_verify_at_start": full,
        **audit_settings,
    }
    return Harness.scripted(
        directory,
        mode="autonomous",
        cpu=90.0,
        refs=REFS,
        guardrails={
            "reversion_limit": 1,
            "max_actions_per_hour": 2,
            "cooldown_up_s": 30,
            "max_replicas": 10,
        },
        audit=audit,
    )


async def first_run(h: ScriptedHarness) -> None:
    """API is stopped (someone reverted our change), DB used its hourly actions, web scaled
    up 10 s before the end."""
    async with h.running() as executor:
        assert (await h.submit(up(4, 3, ref=API))).code is Code.OK
        h.cluster.set_replicas_externally(API, 3)
        executor.observe([h.cluster.state(API)], read_started_at=h.clock.now())
        assert (await h.submit(up(4, 3, ref=DB))).code is Code.OK
        h.clock.advance(40)
        assert (await h.submit(up(5, 4, ref=DB))).code is Code.OK
        h.clock.advance(40)
        assert (await h.submit(up(4, 3))).code is Code.OK
    h.clock.advance(10)


async def restart(h: ScriptedHarness) -> tuple[dict[WorkloadRef, History], list[Code]]:
    """What the restarted executor remembers, and what it answers."""
    async with h.running() as executor:
        remembered = {ref: executor.memory.history(ref) for ref in REFS}
        codes = [
            (await h.submit(up(5, 4))).code,
            (await h.submit(up(4, 3, ref=API))).code,
            (await h.submit(up(6, 5, ref=DB))).code,
        ]
    return remembered, codes


EXPECTED = [Code.COOLDOWN_UP, Code.EXTERNAL_CONTROLLER, Code.RATE_LIMITED]


async def full_recovery(tmp_path: Path, *, epoch: str | None = None) -> tuple[Any, list[Code]]:
    h = harness(tmp_path / "full", full=True)
    await first_run(h)
    if epoch is not None:
        h.clock.epoch = epoch
    return await restart(h)


def damaged_restarts(h: ScriptedHarness) -> list[dict[str, Any]]:
    return [r for r in h.records("restart") if "damage" in r]


async def test_a_clean_close_writes_a_snapshot_bound_by_the_next_record(tmp_path: Path) -> None:
    h = harness(tmp_path)
    await first_run(h)

    snapshot = read_state(h.audit_path)
    records = list(iter_records(h.audit_path))

    assert snapshot is not None
    bound = records[snapshot.seq + 1]
    assert bound["kind"] == STATE_KIND and bound["state_sha256"] == snapshot.sha256
    assert records[snapshot.seq]["hash"] == snapshot.hash
    assert verify(h.audit_path).ok


async def test_a_restart_from_the_snapshot_remembers_and_refuses_what_a_full_one_does(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path / "snapshot")
    await first_run(h)
    assert resume(h.audit_path, h.clock.epoch) is not None

    remembered, codes = await restart(h)

    assert (remembered, codes) == await full_recovery(tmp_path)
    assert codes == EXPECTED
    assert not damaged_restarts(h)


async def test_a_restart_under_another_boot_treats_the_snapshot_as_foreign_history(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path / "snapshot")
    await first_run(h)
    h.clock.epoch = "another-boot"
    assert resume(h.audit_path, h.clock.epoch) is not None

    remembered, codes = await restart(h)

    assert (remembered, codes) == await full_recovery(tmp_path, epoch="another-boot")
    assert codes[1] is Code.EXTERNAL_CONTROLLER


async def test_an_older_snapshot_is_continued_with_every_record_after_it(tmp_path: Path) -> None:
    h = harness(tmp_path / "snapshot")
    async with h.running():
        pass
    older = state_path(h.audit_path).read_bytes()
    h.clock.advance(40)
    await first_run(h)  # more actions; a crash would have left the older snapshot
    state_path(h.audit_path).write_bytes(older)
    assert resume(h.audit_path, h.clock.epoch) is not None

    remembered, codes = await restart(h)

    reference = harness(tmp_path / "full", full=True)
    async with reference.running():
        pass
    reference.clock.advance(40)
    await first_run(reference)
    assert (remembered, codes) == await restart(reference)
    assert codes == EXPECTED


def flip_a_byte(path: Path) -> None:
    data = bytearray(state_path(path).read_bytes())
    at = data.index(b'"external_controller":true') + len(b'"external_controller":')
    data[at : at + 4] = b"fals"  # still JSON-ish garbage: 'falsa' is not JSON
    state_path(path).write_bytes(bytes(data))


def rewrite_state(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = orjson.loads(state_path(path).read_bytes())
    change(data)
    state_path(path).write_bytes(orjson.dumps(data) + b"\n")


def erase_the_memory(path: Path) -> None:
    rewrite_state(path, lambda data: data["fold"].update(histories={}))


def name_another_record(path: Path) -> None:
    rewrite_state(path, lambda data: data.update(seq=data["seq"] - 1))


def name_another_hash(path: Path) -> None:
    rewrite_state(path, lambda data: data.update(hash="0" * 64))


def crash_before_the_binding_record(path: Path) -> None:
    """A new snapshot of an empty memory was written, and the process died before its
    ``state_checkpoint`` record."""
    snapshot = read_state(path)
    assert snapshot is not None
    last = list(iter_records(path))[-1]
    empty = type(snapshot.fold)(snapshot.fold.epoch)
    write_state(path, last["seq"], last["hash"], empty)


def delete_the_snapshot(path: Path) -> None:
    state_path(path).unlink()


def replace_it_with_garbage(path: Path) -> None:
    state_path(path).write_bytes(b"not a snapshot\n")


DOUBTS: dict[str, Callable[[Path], None]] = {
    "flip a byte": flip_a_byte,
    "erase the memory (sha256 no longer bound)": erase_the_memory,
    "wrong N": name_another_record,
    "hash mismatch": name_another_hash,
    "crash between the snapshot and its record": crash_before_the_binding_record,
    "missing": delete_the_snapshot,
    "unreadable": replace_it_with_garbage,
}


@pytest.mark.parametrize("name", sorted(DOUBTS))
async def test_a_doubtful_snapshot_falls_back_to_the_full_recovery(
    tmp_path: Path, name: str
) -> None:
    h = harness(tmp_path / "snapshot")
    await first_run(h)
    DOUBTS[name](h.audit_path)
    assert resume(h.audit_path, h.clock.epoch) is None

    remembered, codes = await restart(h)

    assert (remembered, codes) == await full_recovery(tmp_path)
    assert codes == EXPECTED
    assert verify(h.audit_path).ok
    assert resume(h.audit_path, h.clock.epoch) is not None  # the clean close wrote a new one


def change_a_record_before_the_snapshot(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(b'"kind":"proposal"') + 9
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


async def test_a_change_before_the_snapshot_is_found_by_verify_not_by_a_fast_start(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    await first_run(h)
    change_a_record_before_the_snapshot(h.audit_path)

    _, codes = await restart(h)

    assert codes == EXPECTED
    assert not damaged_restarts(h)  # the documented trade-off
    assert not verify(h.audit_path).ok


async def test_full_verify_at_start_finds_a_change_before_the_snapshot(tmp_path: Path) -> None:
    h = harness(tmp_path, full=True)
    await first_run(h)
    change_a_record_before_the_snapshot(h.audit_path)

    _, codes = await restart(h)

    assert codes[0] in {Code.COOLDOWN_UP, Code.RATE_LIMITED}
    assert codes[1] is Code.EXTERNAL_CONTROLLER
    assert damaged_restarts(h)


async def test_a_change_at_the_snapshot_is_damage_at_start(tmp_path: Path) -> None:
    h = harness(tmp_path)
    await first_run(h)
    lines = h.audit_path.read_bytes().splitlines(keepends=True)
    lines[-2] = lines[-2].replace(b'"kind":"', b'"kind":"X', 1)  # record N itself
    h.audit_path.write_bytes(b"".join(lines))

    _, codes = await restart(h)

    assert codes[0] in {Code.COOLDOWN_UP, Code.RATE_LIMITED}
    assert codes[1] is Code.EXTERNAL_CONTROLLER
    assert damaged_restarts(h)


async def test_snapshots_are_taken_every_k_records_and_resumed_across_rotated_segments(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path / "snapshot", state_every_records=7, rotate_bytes=4096)
    reference = harness(tmp_path / "full", full=True, state_every_records=7, rotate_bytes=4096)
    for world in (h, reference):
        async with world.running():
            pass
    older = state_path(h.audit_path).read_bytes()
    await first_run(h)
    await first_run(reference)
    assert len(h.records(STATE_KIND)) > 2
    state_path(h.audit_path).write_bytes(older)  # as if the later snapshots were lost
    snapshot = read_state(h.audit_path)
    newest = list(h.audit_path.read_bytes().splitlines())
    assert snapshot is not None and orjson.loads(newest[0])["seq"] > snapshot.seq + 1
    assert resume(h.audit_path, h.clock.epoch) is not None

    assert (await restart(h)) == await restart(reference)


async def test_a_snapshot_that_cannot_be_written_only_makes_the_next_start_full(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path / "snapshot", state_every_records=3)
    state_path(h.audit_path).mkdir(parents=True)  # the snapshot can never replace it

    await first_run(h)

    assert not h.records(STATE_KIND)
    assert verify(h.audit_path).ok
    assert resume(h.audit_path, h.clock.epoch) is None
    remembered, codes = await restart(h)
    assert (remembered, codes) == await full_recovery(tmp_path)
