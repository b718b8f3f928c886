"""The audit log: chaining, rotation, crash handling, tamper detection, streaming, recovery."""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudescale.audit import (
    ZERO_HASH,
    AuditLog,
    RecordFilter,
    iter_records,
    list_segments,
    recovery_records,
    select_records,
    verify,
)
from claudescale.audit.format import encode_record
from claudescale.errors import AuditError
from claudescale.testing.clock import ManualClock

ROTATE_BYTES = 1500


def write_log(
    path: Path, count: int, *, rotate_bytes: int = 1 << 30, clock: ManualClock | None = None
) -> Path:
    with AuditLog(path, rotate_bytes, clock or ManualClock()) as log:
        for n in range(count):
            log.append("proposal", {"workload": "shop/web", "n": n, "source": "rules"})
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def reencoded(line: bytes, **changes: Any) -> bytes:
    """The line with fields changed and its own hash recomputed (a careful forger)."""
    record = orjson.loads(line)
    del record["hash"]
    record.update(changes)
    return encode_record(record)[0]


def segment_names(path: Path) -> list[str]:
    return [segment.path.name for segment in list_segments(path)]


# Appending and chaining.


def test_appended_records_chain_and_verify(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 5)

    records = list(iter_records(path))

    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prev"] == ZERO_HASH
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    result = verify(path)
    assert result.ok
    assert (result.records, result.files, result.last_seq) == (5, 1, 4)
    assert result.last_hash == records[-1]["hash"]
    assert result.message == "Audit log OK: 5 records in 1 file."


def test_each_record_carries_the_clock_the_kind_and_its_fields(tmp_path: Path) -> None:
    clock = ManualClock(start=50.0, wall_start=1_700_000_000.0, epoch="boot-a")
    with AuditLog(tmp_path / "audit.jsonl", 1 << 20, clock) as log:
        first = log.append("verdict", {"workload": "shop/web", "code": "ok"})
        clock.advance(2.5)
        second = log.append("outcome", {"workload": "shop/web", "code": "ok", "to": 4})

    records = list(iter_records(tmp_path / "audit.jsonl"))

    assert (first, second) == (0, 1)
    assert records[1] == {
        "seq": 1,
        "prev": records[0]["hash"],
        "ts": 1_700_000_002.5,
        "mono": 52.5,
        "epoch": "boot-a",
        "kind": "outcome",
        "workload": "shop/web",
        "code": "ok",
        "to": 4,
        "hash": records[1]["hash"],
    }


def test_each_hash_is_the_sha256_of_its_line_without_the_hash(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3)

    for line in lines_of(path):
        match = re.fullmatch(rb'(\{.*),"hash":"([0-9a-f]{64})"\}\n', line)
        assert match is not None
        assert hashlib.sha256(match[1] + b"}").hexdigest() == match[2].decode()


@pytest.mark.parametrize("key", ["seq", "prev", "ts", "mono", "epoch", "kind", "hash"])
def test_fields_that_collide_with_the_envelope_are_refused(tmp_path: Path, key: str) -> None:
    with AuditLog(tmp_path / "audit.jsonl", 1 << 20, ManualClock()) as log:
        with pytest.raises(ValueError, match=key):
            log.append("proposal", {key: 1})
        assert log.append("proposal", {"n": 1}) == 0


def test_a_value_json_cannot_hold_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 20, ManualClock()) as log:
        log.append("proposal", {"n": 0})
        with pytest.raises(ValueError, match="JSON"):
            log.append("proposal", {"n": object()})
        assert log.append("proposal", {"n": 1}) == 1

    assert len(lines_of(path)) == 2
    assert verify(path).ok


def test_durable_append_fsyncs_and_a_plain_one_does_not(tmp_path: Path) -> None:
    synced: list[int] = []
    with AuditLog(tmp_path / "audit.jsonl", 1 << 20, ManualClock(), fsync=synced.append) as log:
        log.append("proposal", {"n": 0})
        after_open = len(synced)
        log.append("verdict", {"n": 1})
        assert len(synced) == after_open
        log.append("intent", {"intent_id": "i-1"}, durable=True)
        # The log, then its checkpoint: the temporary file and the directory after the rename.
        assert len(synced) == after_open + 3


def test_a_closed_log_refuses_appends(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", 1 << 20, ManualClock())
    log.close()

    with pytest.raises(AuditError, match="closed"):
        log.append("proposal", {})


# Reopening.


def test_reopening_continues_seq_and_chain(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 4)

    with AuditLog(path, 1 << 20, ManualClock()) as log:
        assert log.next_seq == 4
        assert log.append("restart", {}) == 4

    records = list(iter_records(path))
    assert records[4]["prev"] == records[3]["hash"]
    assert verify(path).ok


def test_opening_reads_only_the_tail_of_the_log(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 6)
    lines = lines_of(path)
    lines[2] = b"not json at all\n"
    rewrite(path, lines)

    with AuditLog(path, 1 << 20, ManualClock()) as log:
        assert log.append("restart", {}) == 6

    assert verify(path).line == 3


def test_opening_refuses_a_log_whose_last_record_is_damaged(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3)
    lines = lines_of(path)
    lines[-1] = lines[-1].replace(b'"n":2', b'"n":9')
    rewrite(path, lines)

    with pytest.raises(AuditError, match=re.escape("audit.jsonl is damaged")):
        AuditLog(path, 1 << 20, ManualClock())


def test_another_process_cannot_open_the_log_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from claudescale.audit import AuditLog\n"
        "from claudescale.testing.clock import ManualClock\n"
        "from claudescale.errors import AuditError\n"
        "try:\n"
        "    AuditLog(Path(sys.argv[1]), 1 << 20, ManualClock())\n"
        "except AuditError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    with AuditLog(path, 1 << 20, ManualClock()):
        refused = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
        )
    allowed = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )

    assert refused.returncode == 3
    assert "already open for writing" in refused.stdout
    assert allowed.returncode == 0, allowed.stderr


# Rotation.


def test_rotation_keeps_the_chain_and_verification(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 40, rotate_bytes=ROTATE_BYTES)

    names = segment_names(path)
    assert names[0] == "audit.jsonl.000001"
    assert names[-1] == "audit.jsonl"
    assert names[1:-1] == [f"audit.jsonl.{n:06d}" for n in range(2, len(names))]
    assert all(s.path.stat().st_size <= ROTATE_BYTES for s in list_segments(path))
    firsts = [orjson.loads(lines_of(s.path)[0]) for s in list_segments(path)]
    lasts = [orjson.loads(lines_of(s.path)[-1]) for s in list_segments(path)]
    assert all(nxt["prev"] == last["hash"] for last, nxt in zip(lasts, firsts[1:], strict=False))
    assert [r["seq"] for r in iter_records(path)] == list(range(40))
    result = verify(path)
    assert result.ok
    assert (result.records, result.files) == (40, len(names))


def test_reopening_after_rotation_continues_the_chain(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 20, rotate_bytes=ROTATE_BYTES)
    files_before = len(segment_names(path))

    write_log(path, 20, rotate_bytes=ROTATE_BYTES)

    assert len(segment_names(path)) > files_before
    assert [r["seq"] for r in iter_records(path)] == list(range(40))
    assert verify(path).ok


def test_a_crash_between_the_rotation_rename_and_the_new_segment_loses_nothing(
    tmp_path: Path,
) -> None:
    path = write_log(tmp_path / "audit.jsonl", 20, rotate_bytes=ROTATE_BYTES)
    rotated = [s.number for s in list_segments(path) if s.number is not None]
    path.rename(path.with_name(f"audit.jsonl.{max(rotated) + 1:06d}"))

    with AuditLog(path, ROTATE_BYTES, ManualClock()) as log:
        assert log.append("restart", {}) == 20

    assert [r["seq"] for r in iter_records(path)] == list(range(21))
    assert verify(path).ok


# A torn last line after a crash.


def test_a_torn_last_line_is_moved_aside_and_recorded(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3)
    torn = b'{"seq":3,"prev":"ab'
    with path.open("ab") as stream:
        stream.write(torn)

    with AuditLog(path, 1 << 20, ManualClock()) as log:
        assert log.next_seq == 4

    record = list(iter_records(path))[-1]
    assert record["kind"] == "torn_tail"
    assert record["seq"] == 3
    assert record["discarded_bytes"] == len(torn)
    assert record["discarded_sha256"] == hashlib.sha256(torn).hexdigest()
    assert (tmp_path / record["moved_to"]).read_bytes() == torn
    assert path.read_bytes().endswith(b"\n")
    assert verify(path).ok


def test_a_torn_line_that_is_the_whole_newest_segment_continues_from_the_rotated_one(
    tmp_path: Path,
) -> None:
    path = write_log(tmp_path / "audit.jsonl", 20, rotate_bytes=ROTATE_BYTES)
    rotated = [s.number for s in list_segments(path) if s.number is not None]
    path.rename(path.with_name(f"audit.jsonl.{max(rotated) + 1:06d}"))
    path.write_bytes(b'{"seq":20,"pr')

    with AuditLog(path, ROTATE_BYTES, ManualClock()) as log:
        assert log.next_seq == 21

    records = list(iter_records(path))
    assert [r["kind"] for r in records[-1:]] == ["torn_tail"]
    assert records[-1]["discarded_bytes"] == 13
    assert verify(path).ok


# Tampering: each kind is found, and the message says where.


def test_an_edited_field_is_found_at_its_own_line(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 10)
    lines = lines_of(path)
    lines[7] = lines[7].replace(b'"n":7', b'"n":8')
    rewrite(path, lines)

    result = verify(path)

    assert not result.ok
    assert (result.segment, result.line, result.first_bad_seq) == ("audit.jsonl", 8, 7)
    assert result.records == 7
    assert result.message.startswith("Audit log audit.jsonl line 8 (seq 7): the record was changed")


def test_an_edit_of_the_last_record_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 4)
    lines = lines_of(path)
    lines[-1] = lines[-1].replace(b'"source":"rules"', b'"source":"cli"')
    rewrite(path, lines)

    result = verify(path)

    assert (result.ok, result.line, result.first_bad_seq) == (False, 4, 3)


def test_an_edit_that_recomputes_its_hash_is_found_at_the_next_record(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 10)
    lines = lines_of(path)
    lines[4] = reencoded(lines[4], n=40)
    rewrite(path, lines)

    result = verify(path)

    assert (result.line, result.first_bad_seq) == (6, 5)
    assert "line 6 (seq 5): the record before it was changed or replaced" in result.message


def test_a_deleted_line_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 10)
    lines = lines_of(path)
    del lines[5]
    rewrite(path, lines)

    result = verify(path)

    assert (result.line, result.first_bad_seq) == (6, 6)
    assert result.message == (
        "Audit log audit.jsonl line 6 (seq 6): expected seq 5 here; "
        "seq 5 is missing (deleted or moved)."
    )


def test_two_swapped_lines_are_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 10)
    lines = lines_of(path)
    lines[3], lines[4] = lines[4], lines[3]
    rewrite(path, lines)

    result = verify(path)

    assert (result.line, result.first_bad_seq) == (4, 4)
    assert "expected seq 3 here" in result.message


def test_a_duplicated_line_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 6)
    lines = lines_of(path)
    lines.insert(3, lines[2])
    rewrite(path, lines)

    result = verify(path)

    assert (result.line, result.first_bad_seq) == (4, 2)
    assert "out of order" in result.message


def test_a_line_cut_mid_record_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 5)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])

    result = verify(path)

    assert (result.ok, result.line, result.first_bad_seq) == (False, 5, 4)
    assert result.message.startswith(
        "Audit log audit.jsonl line 5 (expected seq 4): the line is cut"
    )


def test_a_line_that_is_not_json_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 5)
    lines = lines_of(path)
    lines[1] = b"{broken\n"
    rewrite(path, lines)

    result = verify(path)

    assert (result.line, result.first_bad_seq) == (2, 1)
    assert "not valid JSON" in result.message


def test_an_edit_across_a_rotation_boundary_is_found_in_the_next_file(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 40, rotate_bytes=ROTATE_BYTES)
    first = list_segments(path)[0].path
    lines = lines_of(first)
    last_seq = orjson.loads(lines[-1])["seq"]
    lines[-1] = reencoded(lines[-1], workload="shop/other")
    rewrite(first, lines)

    result = verify(path)

    assert (result.segment, result.line, result.first_bad_seq) == (
        "audit.jsonl.000002",
        1,
        last_seq + 1,
    )
    assert "prev hash does not match" in result.message


def test_a_deleted_rotated_segment_in_the_middle_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 40, rotate_bytes=ROTATE_BYTES)
    segments = list_segments(path)
    assert len(segments) >= 4
    gone = [orjson.loads(line)["seq"] for line in lines_of(segments[1].path)]
    segments[1].path.unlink()

    result = verify(path)

    assert (result.segment, result.line, result.first_bad_seq) == (
        "audit.jsonl.000003",
        1,
        gone[-1] + 1,
    )
    assert f"seqs {gone[0]} to {gone[-1]} are missing" in result.message
    assert result.message.endswith("the file audit.jsonl.000002 is missing.")


def test_a_deleted_oldest_segment_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 40, rotate_bytes=ROTATE_BYTES)
    list_segments(path)[0].path.unlink()

    result = verify(path)

    assert (result.segment, result.line) == ("audit.jsonl.000002", 1)
    assert "the log starts at seq" in result.message


def test_a_missing_log_does_not_verify(tmp_path: Path) -> None:
    result = verify(tmp_path / "audit.jsonl")

    assert not result.ok
    assert "no such file" in result.message


# Property: any single-line mutation is detected.

Segments = list[tuple[str, list[bytes]]]


@pytest.fixture(scope="module")
def base_log(tmp_path_factory: pytest.TempPathFactory) -> Segments:
    """A valid log of 16 records over three or more files, as (file name, lines)."""
    path = write_log(tmp_path_factory.mktemp("base") / "audit.jsonl", 16, rotate_bytes=ROTATE_BYTES)
    segments = [(s.path.name, lines_of(s.path)) for s in list_segments(path)]
    assert len(segments) >= 3 and verify(path).ok
    return segments


def mutate(segments: Segments, data: st.DataObject) -> str:
    """Apply one mutation in place; return its description."""
    lines_at = [(s, i) for s, (_, lines) in enumerate(segments) for i in range(len(lines))]
    places = [(s, i) for s, (_, lines) in enumerate(segments) for i in range(len(lines) + 1)]
    kind = data.draw(st.sampled_from(["edit_byte", "delete", "swap", "duplicate", "insert"]))
    if kind == "edit_byte":
        s, i = data.draw(st.sampled_from(lines_at))
        line = bytearray(segments[s][1][i])
        position = data.draw(st.integers(0, len(line) - 1))
        line[position] = (line[position] + data.draw(st.integers(1, 255))) % 256
        segments[s][1][i] = bytes(line)
    elif kind == "delete":
        # Dropping the newest line leaves a valid, shorter chain: only an outside anchor
        # (VerifyResult.last_seq / last_hash) can show that, so it is not a mutation here.
        s, i = data.draw(st.sampled_from(lines_at[:-1]))
        del segments[s][1][i]
    elif kind == "swap":
        (s, i), (t, j) = data.draw(
            st.lists(st.sampled_from(lines_at), min_size=2, max_size=2, unique=True)
        )
        segments[s][1][i], segments[t][1][j] = segments[t][1][j], segments[s][1][i]
    elif kind == "duplicate":
        s, i = data.draw(st.sampled_from(lines_at))
        t, j = data.draw(st.sampled_from(places))
        segments[t][1].insert(j, segments[s][1][i])
    else:
        junk = data.draw(st.binary(max_size=60)).replace(b"\n", b"") + b"\n"
        t, j = data.draw(st.sampled_from(places))
        segments[t][1].insert(j, junk)
    return kind


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_single_line_mutation_of_a_valid_log_is_detected(
    base_log: Segments, data: st.DataObject
) -> None:
    segments = [(name, list(lines)) for name, lines in base_log]
    kind = mutate(segments, data)

    with tempfile.TemporaryDirectory() as directory:
        for name, lines in segments:
            rewrite(Path(directory) / name, lines)
        result = verify(Path(directory) / "audit.jsonl")

    assert not result.ok, kind
    assert result.segment is not None and result.message.startswith(f"Audit log {result.segment}")


# Reading.


def test_iter_records_since_seq_skips_older_segments_without_reading_them(
    tmp_path: Path,
) -> None:
    path = write_log(tmp_path / "audit.jsonl", 40, rotate_bytes=ROTATE_BYTES)
    first = list_segments(path)[0].path
    lines = lines_of(first)
    lines[1] = b"garbage\n"
    rewrite(first, lines)

    assert [r["seq"] for r in iter_records(path, since_seq=35)] == [35, 36, 37, 38, 39]
    with pytest.raises(AuditError, match=re.escape("audit.jsonl.000001 line 2")):
        list(iter_records(path))


def test_iter_records_does_no_work_until_iterated(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    records = iter_records(path)

    write_log(path, 3)

    assert [r["seq"] for r in records] == [0, 1, 2]


def test_iter_records_leaves_out_a_line_still_being_written(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 3)
    with path.open("ab") as stream:
        stream.write(b'{"seq":3,')

    assert [r["seq"] for r in iter_records(path)] == [0, 1, 2]


def test_select_records_keeps_only_what_every_criterion_matches(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    clock = ManualClock(start=0.0, wall_start=1000.0)
    with AuditLog(path, 1 << 20, clock) as log:
        for workload, code in [("shop/web", "ok"), ("shop/api", "ok"), ("shop/web", "busy")]:
            log.append("outcome", {"workload": workload, "code": code, "source": "rules"})
            clock.advance(10)

    web_ok = RecordFilter(workload="shop/web", code="ok")
    late = RecordFilter(since_ts=1010.0, until_ts=1020.0)

    assert [r["seq"] for r in select_records(path, web_ok)] == [0]
    assert [r["seq"] for r in select_records(path, late)] == [1]
    assert [r["seq"] for r in select_records(path, RecordFilter(kinds=frozenset({"x"})))] == []


def test_verifying_and_reading_a_large_log_use_constant_memory(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", 50_000, rotate_bytes=2 * 1024 * 1024)
    log_bytes = sum(s.path.stat().st_size for s in list_segments(path))

    tracemalloc.start()
    try:
        result = verify(path)
        _, verify_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = sum(1 for _ in iter_records(path))
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.ok
    assert result.records == count == 50_000
    assert log_bytes > 10 * 1024 * 1024
    assert verify_peak < 1024 * 1024
    assert read_peak < 1024 * 1024


# Recovery.


def test_recovery_streams_the_records_of_a_log_that_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 20, ManualClock()) as log:
        for n in range(3):
            log.append("outcome", {"workload": "shop/web", "code": "ok", "n": n})
    recovery = recovery_records(path)
    assert recovery.problem is None and recovery.records is not None
    assert [r["n"] for r in recovery.records] == [0, 1, 2]


def test_recovery_trusts_nothing_in_a_broken_chain_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 20, ManualClock()) as log:
        for n in range(4):
            log.append("outcome", {"workload": "shop/web", "code": "ok", "n": n})
    lines = lines_of(path)
    del lines[1]
    rewrite(path, lines)
    recovery = recovery_records(path)
    assert recovery.records is None
    assert recovery.problem is not None and "line 2 (seq 2)" in recovery.problem


def test_recovery_treats_an_empty_log_as_no_history(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path, 1 << 20, ManualClock()).close()
    recovery = recovery_records(path)
    assert recovery.records is None and recovery.problem is not None
