"""Audit retention: whole rotated segments go by age and by size, oldest first, never the
newest nor one the checkpoint needs; the chain then verifies from the start anchor, and a
segment deleted from what is kept is still found."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import anyio

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog, iter_records, list_segments, verify
from claudescale.audit.checkpoint import read_start
from claudescale.audit.retention import DAY_S, Retention
from claudescale.config import parse_settings
from claudescale.engine.service import Service
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster

ROTATE_BYTES = 1000


def names(path: Path) -> list[str]:
    return [segment.path.name for segment in list_segments(path)]


def fill(log: AuditLog, count: int, *, durable: bool = True) -> None:
    for n in range(count):
        log.append("note", {"n": n, "pad": "x" * 100}, durable=durable)


def test_rotated_segments_older_than_the_retention_are_deleted_oldest_first(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "audit.jsonl", ManualClock()
    with AuditLog(path, ROTATE_BYTES, clock, retention=Retention(max_age_s=DAY_S)) as log:
        fill(log, 20)
        old = names(path)[:-1]
        clock.advance(2 * DAY_S)
        fill(log, 20)

    kept = names(path)
    assert not set(old) & set(kept) and len(kept) > 2
    records = [r for r in iter_records(path) if r["kind"] == "retention"]
    deleted = {name for r in records for name in r["deleted"]}
    assert set(old) <= deleted and not deleted & set(kept)
    result = verify(path)
    assert result.ok, result.message
    first = next(iter_records(path))
    assert read_start(path).seq == first["seq"] > 0


def test_size_retention_keeps_the_total_near_the_limit_and_the_newest_segments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, ROTATE_BYTES, ManualClock(), retention=Retention(max_bytes=2500)) as log:
        fill(log, 60)

    sizes = [segment.path.stat().st_size for segment in list_segments(path)]
    assert sum(sizes) <= 2500 + ROTATE_BYTES and len(sizes) >= 2
    assert verify(path).ok


def test_nothing_is_deleted_without_a_retention_setting(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, ROTATE_BYTES, ManualClock()) as log:
        fill(log, 30)

    assert names(path)[0] == "audit.jsonl.000001"


def test_a_segment_the_checkpoint_needs_is_never_deleted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, ROTATE_BYTES, ManualClock(), retention=Retention(max_bytes=1)) as log:
        log.append("intent", {"n": 0}, durable=True)
        fill(log, 30, durable=False)
        assert names(path)[0] == "audit.jsonl.000001"


def test_deleting_the_oldest_kept_segment_is_still_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, ROTATE_BYTES, ManualClock(), retention=Retention(max_bytes=2500)) as log:
        fill(log, 60)
    list_segments(path)[0].path.unlink()

    result = verify(path)

    assert not result.ok and "missing" in result.message


def test_a_retention_pass_cut_short_after_the_anchor_moved_still_verifies(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "audit.jsonl", ManualClock()
    with AuditLog(path, ROTATE_BYTES, clock) as log:
        fill(log, 20)
    oldest = list_segments(path)[0].path
    shutil.copy(oldest, tmp_path / "saved")
    with AuditLog(path, ROTATE_BYTES, clock, retention=Retention(max_bytes=1500)) as log:
        log.apply_retention()
    assert not oldest.exists()
    shutil.copy(tmp_path / "saved", oldest)  # as if the crash came before the unlink

    assert verify(path).ok
    with AuditLog(path, ROTATE_BYTES, clock, retention=Retention(max_bytes=1500)) as log:
        log.apply_retention()
    assert not oldest.exists() and verify(path).ok


async def test_the_service_applies_the_retention_settings_once_it_trusts_the_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, ROTATE_BYTES, ManualClock()) as log:
        fill(log, 40)
    before = names(path)
    settings = parse_settings(
        {
            "audit": {"path": str(path), "rotate_bytes": 4096, "retain_bytes": 4096},
            "service": {"port": 0},
        }
    )
    cluster = ScriptedCluster(SystemClock())
    service = Service(settings, cluster=cluster, metrics=cluster, clock=SystemClock())
    ready = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(service.run, ready=ready))
        with anyio.fail_after(10):
            await ready.wait()
        service.stop()

    assert before[0] not in names(path)
    assert [r["kind"] for r in iter_records(path)].count("retention") == 1
    assert verify(path).ok
