"""``claudescale audit verify``: one line of output, exit 0 when the chain holds, 1 when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudescale.audit import AuditLog
from claudescale.cli.main import COMMAND_MODULES, main
from claudescale.testing.clock import ManualClock


def write_log(path: Path, count: int, rotate_bytes: int = 1 << 20) -> Path:
    with AuditLog(path, rotate_bytes, ManualClock()) as log:
        for n in range(count):
            log.append("proposal", {"workload": "shop/web", "n": n})
    return path


def test_audit_commands_are_registered() -> None:
    assert "claudescale.cli.audit_cmd" in COMMAND_MODULES


def test_verify_prints_ok_with_counts_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "audit.jsonl", 30, rotate_bytes=1500)
    files = len(list(tmp_path.glob("audit.jsonl.0*"))) + 1  # rotated ones and the newest

    status = main(["audit", "verify", "--path", str(path)])

    assert status == 0
    assert files > 1
    assert capsys.readouterr().out == f"Audit log OK: 30 records in {files} files.\n"


def test_verify_prints_where_the_log_breaks_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "audit.jsonl", 5)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"n":2', b'"n":3')
    path.write_bytes(b"".join(lines))

    status = main(["audit", "verify", "--path", str(path)])

    out = capsys.readouterr().out
    assert status == 1
    assert out.count("\n") == 1
    assert out.startswith("Audit log audit.jsonl line 3 (seq 2): the record was changed")


def test_verify_finds_the_log_through_the_settings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "kept" / "claudescale-audit.jsonl", 2)
    config = tmp_path / "claudescale.yaml"
    config.write_text(f"audit:\n  path: {path}\n", encoding="utf-8")

    status = main(["audit", "verify", "--config", str(config)])

    assert status == 0
    assert capsys.readouterr().out == "Audit log OK: 2 records in 1 file.\n"


def test_verify_of_a_missing_log_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["audit", "verify", "--path", str(tmp_path / "nothing.jsonl")])

    assert status == 1
    assert "no such file" in capsys.readouterr().out
