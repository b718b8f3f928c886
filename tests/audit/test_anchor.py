"""The end of the chain is anchored outside the log: a cut tail, a chain recomputed without
its last records, a deleted log and a deleted checkpoint are each found and named, by
``verify`` and at start-up, and stay found after a restart until an operator seals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from claudescale.audit import AuditLog, recover_from, recovery_records, verify
from claudescale.audit.format import ZERO_HASH, encode_record
from claudescale.testing.clock import ManualClock


def write_log(path: Path, count: int, *, durable: bool = True) -> Path:
    with AuditLog(path, 1 << 30, ManualClock()) as log:
        for n in range(count):
            log.append("outcome", {"workload": "shop/web", "n": n}, durable=durable)
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rechained(lines: list[bytes]) -> bytes:
    """The records re-hashed into a fresh, internally valid chain (a careful forger)."""
    prev, out = ZERO_HASH, []
    for line in lines:
        record: dict[str, Any] = orjson.loads(line)
        del record["hash"]
        record["prev"] = prev
        encoded, prev = encode_record(record)
        out.append(encoded)
    return b"".join(out)


def test_a_tail_cut_at_a_line_boundary_is_found_and_named(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 6)
    path.write_bytes(b"".join(lines_of(path)[:4]))

    result = verify(path)

    assert not result.ok
    assert "ends at seq 3" in result.message and "seq 5" in result.message
    assert "cut" in result.message


def test_a_chain_recomputed_without_its_last_records_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 6)
    path.write_bytes(rechained(lines_of(path)[:5]))

    result = verify(path)

    assert not result.ok and "checkpoint" in result.message


def test_a_chain_recomputed_to_the_same_length_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 6)
    lines = lines_of(path)
    lines[2] = lines[2].replace(b'"n":2', b'"n":9')
    path.write_bytes(rechained(lines))

    result = verify(path)

    assert not result.ok and "rewritten" in result.message


def test_a_deleted_log_that_the_checkpoint_remembers_is_named(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3)
    path.unlink()

    result = verify(path)

    assert not result.ok
    assert "missing" in result.message and "seq 2" in result.message


def test_a_deleted_checkpoint_is_named(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3)
    path.with_name(path.name + ".checkpoint").unlink()

    result = verify(path)

    assert not result.ok and "checkpoint" in result.message


def test_closing_the_log_anchors_records_that_were_not_durable(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3, durable=False)

    assert verify(path).ok


def test_recovery_names_a_cut_tail_as_damage(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 5)
    path.write_bytes(b"".join(lines_of(path)[:3]))

    recovery = recovery_records(path)

    assert recovery.records is None
    assert recovery.damage is not None and "cut" in recovery.damage


def test_a_cut_tail_stays_found_after_restarts_until_sealed(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 5)
    path.write_bytes(b"".join(lines_of(path)[:3]))
    for _ in range(2):
        with AuditLog(path, 1 << 30, ManualClock()) as log:
            assert recover_from(log).damage is not None
            log.append("restart", {"recovered": False}, durable=True)

    assert not verify(path).ok


def test_a_fresh_log_without_records_needs_no_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path, 1 << 30, ManualClock()).close()

    result = verify(path)

    assert result.ok and result.records == 0
    assert recovery_records(path).damage is None
