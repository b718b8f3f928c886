"""``claudescale audit list`` and ``audit export``: filters, formats, streaming, and every record
naming who or what acted."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudescale.audit import AuditLog, iter_records
from claudescale.cli.approvals_cmd import approve_change
from claudescale.cli.audit_records import CSV_COLUMNS, write_export
from claudescale.cli.main import main
from claudescale.core.values import Source
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import Harness, up

START_WALL = 1_800_000_000.0  # 2027-01-15T08:00:00Z, ManualClock's default wall time


def write_log(path: Path) -> Path:
    clock = ManualClock(wall_start=START_WALL)
    rows: list[tuple[str, dict[str, Any]]] = [
        ("proposal", {"workload": "shop/web", "source": "rules", "actor": "rules"}),
        (
            "verdict",
            {
                "workload": "shop/web",
                "source": "rules",
                "actor": "rules",
                "outcome": "executed",
                "code": "ok",
                "from": 3,
                "to": 4,
                "message": "Scaled shop/web 3→4: cpu 85%",
            },
        ),
        (
            "verdict",
            {
                "workload": "shop/api",
                "source": "mcp_client",
                "actor": "mcp:desktop",
                "outcome": "pending",
                "code": "approval_required",
                "from": 2,
                "to": 3,
                "message": 'Scaling shop/api 2→3 waits, for a "human"',
            },
        ),
        (
            "approval_granted",
            {"workload": "shop/api", "source": "cli", "actor": "cli:alice", "approval_id": "a-1"},
        ),
        (
            "verdict",
            {
                "workload": "shop/web",
                "source": "rollback",
                "actor": "cli:alice",
                "outcome": "blocked",
                "code": "below_min",
                "from": 2,
                "to": 1,
            },
        ),
    ]
    with AuditLog(path, 1 << 20, clock) as log:
        for kind, fields in rows:
            log.append(kind, fields)
            clock.advance(3600)  # one record an hour
    return path


def listed(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> list[int]:
    assert main(["audit", "list", "--path", str(path), *options]) == 0
    return [int(line.split()[0]) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    ("options", "seqs"),
    [
        ((), [0, 1, 2, 3, 4]),
        (("--workload", "shop/api"), [2, 3]),
        (("--source", "rollback"), [4]),
        (("--actor", "cli:alice"), [3, 4]),
        (("--outcome", "pending"), [2]),
        (("--code", "ok"), [1]),
        (("--kind", "verdict", "--kind", "approval_granted"), [1, 2, 3, 4]),
        (("--since", "2027-01-15T09:00:00Z"), [1, 2, 3, 4]),
        (("--since", "2027-01-15T09:00:00", "--until", "2027-01-15T11:00:00+00:00"), [1, 2]),
        (("--since", "2027-01-15T10:00:00+01:00"), [1, 2, 3, 4]),
        (("--workload", "shop/web", "--kind", "verdict", "--since", "2027-01-15T10:00Z"), [4]),
    ],
)
def test_audit_list_filters_by_time_workload_source_actor_outcome_code_and_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, ...], seqs: list[int]
) -> None:
    path = write_log(tmp_path / "audit.jsonl")
    assert listed(capsys, path, *options) == seqs


def test_audit_list_prints_time_kind_workload_actor_code_and_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "audit.jsonl")
    main(["audit", "list", "--path", str(path), "--code", "ok"])
    assert capsys.readouterr().out == (
        "1 2027-01-15T09:00:00.000+00:00 verdict shop/web rules ok Scaled shop/web 3→4: cpu 85%\n"
    )


def test_a_time_that_is_not_iso_8601_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "audit.jsonl")
    assert main(["audit", "list", "--path", str(path), "--since", "yesterday"]) == 2
    assert "--since 'yesterday': not an ISO-8601 time" in capsys.readouterr().err


def test_export_json_writes_the_records_as_stored_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "audit.jsonl")
    out = tmp_path / "export.jsonl"
    assert (
        main(
            [
                "audit",
                "export",
                "--path",
                str(path),
                "--format",
                "json",
                "--output",
                str(out),
                "--workload",
                "shop/api",
            ]
        )
        == 0
    )
    exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    stored = [r for r in iter_records(path) if r.get("workload") == "shop/api"]
    assert exported == stored and all("hash" in r for r in exported)


def test_export_csv_has_the_fixed_columns_and_quotes_what_needs_it(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = write_log(tmp_path / "audit.jsonl")
    assert main(["audit", "export", "--path", str(path), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsysbinary.readouterr().out.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 6
    api = dict(zip(CSV_COLUMNS, rows[3], strict=True))
    assert api["time"] == "2027-01-15T10:00:00.000+00:00"
    assert (api["kind"], api["actor"], api["outcome"], api["from"], api["to"]) == (
        "verdict",
        "mcp:desktop",
        "pending",
        "2",
        "3",
    )
    assert api["message"] == 'Scaling shop/api 2→3 waits, for a "human"'
    assert dict(zip(CSV_COLUMNS, rows[1], strict=True))["from"] == ""


@pytest.mark.parametrize("form", ["json", "csv"])
def test_export_streams_each_record_out_before_reading_the_next(form: str) -> None:
    sink = io.BytesIO()
    seen_before: list[int] = []

    def records() -> Iterator[dict[str, Any]]:
        for seq in range(50):
            seen_before.append(len(sink.getvalue()))
            yield {
                "seq": seq,
                "ts": START_WALL,
                "kind": "proposal",
                "actor": "rules",
                "reason": "x" * 10_000,
            }

    assert write_export(records(), form, sink) == 50
    # By the time record n is asked for, at least n-1 records (10 kB each) are in the sink:
    # CSV buffers at most one write buffer, JSON nothing.
    assert all(before >= (n - 2) * 10_000 for n, before in enumerate(seen_before))


async def test_every_record_about_a_change_names_who_or_what_acted(tmp_path: Path) -> None:
    w = Harness.scripted(
        tmp_path,
        mode="supervised",
        replicas=3,
        guardrails={"cooldown_up_s": 0},
        overrides={"allow_every_workload": True},
    )
    async with w.running() as executor:
        loop = await executor.submit(up(4, 3))
        await executor.submit(up(4, 3, source=Source.MODEL_SAMPLING))
        await executor.submit(up(5, 3, source=Source.MODEL_PROVIDER))
        await executor.submit(up(5, 3, source=Source.MCP_CLIENT, actor="mcp:desktop"))
        w.overrides.start(
            workload="*",
            changes={"max_replicas": 6},
            who="cli:ops",
            why="incident 7",
            duration_s=60,
            max_duration_s=3600,
            ceilings=w.settings.overrides,
            base=w.settings.guardrails,
        )
    approve = argparse.Namespace(approval_id=loop.approval_id, yes=True, reason="")
    assert await approve_change(approve, w.cli_context()) == 0
    about_changes = [
        r
        for r in w.records()
        if r["kind"] not in ("restart", "evaluation", "outcome", "external_change", "seeded")
    ]
    assert {r["kind"] for r in about_changes} >= {
        "proposal",
        "verdict",
        "approval_requested",
        "approval_granted",
        "approval_used",
        "snapshot",
        "intent",
        "override_started",
    }
    actors = {r.get("actor") for r in about_changes}
    assert None not in actors and "" not in actors
    assert {
        "rules",
        "model_sampling",
        "model_provider",
        "mcp:desktop",
        "cli:tester",
        "cli:ops",
    } <= actors
