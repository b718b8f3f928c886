"""Issue 9, point 13: the CLI ends cleanly. No traceback for a closed pipe or a bad argument;
a bad argument or missing file exits non-zero with one line; settings errors speak our words
and name the full key; log lines carry ISO-8601 times; closed approvals show no expiry."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog
from claudescale.cli.main import main
from claudescale.config import load_settings
from claudescale.control.approvals import ApprovalStore
from claudescale.errors import ConfigError
from claudescale.logs import JsonFormatter

SUBPROCESS_TIMEOUT_S = 60


def audit_log(tmp_path: Path, records: int = 3) -> Path:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 24, SystemClock()) as log:
        for i in range(records):
            log.append("verdict", {"workload": "shop/web", "code": "ok", "message": f"r{i}"})
    return path


def into_a_closed_pipe(argv: list[str]) -> tuple[int, str]:
    """Run the CLI with its standard output read by nobody (``| head -0``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "claudescale.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the interpreter has even imported claudescale
    try:
        err = process.stderr.read().decode()
        status = process.wait(timeout=SUBPROCESS_TIMEOUT_S)
    finally:
        process.kill()
        process.stderr.close()
    return status, err


def one_line_failure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status != 0, captured
    lines = (captured.out + captured.err).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_audit_export_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    path = audit_log(tmp_path, records=2000)
    status, err = into_a_closed_pipe(["audit", "export", "--path", str(path)])
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert status != 0


def test_replay_explain_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    steps = "".join(
        f"  - {{t: {i * 100}, cpu: 85, propose: "
        f"{{action: hold, target_replicas: 3, reason: 'cpu on target'}}}}\n"
        for i in range(20)
    )
    scenario.write_text("start: {replicas: 3}\nsteps:\n" + steps, encoding="utf-8")
    status, err = into_a_closed_pipe(["replay", "--explain", str(scenario)])
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert status != 0


def test_demo_load_with_a_bare_workload_name_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo-load", "--workload", "web", "spike", "--output", str(tmp_path)]
    line = one_line_failure(argv, capsys)
    assert "'web'" in line and "namespace/name" in line


def test_audit_list_of_a_missing_log_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    line = one_line_failure(["audit", "list", "--path", str(missing)], capsys)
    assert str(missing) in line


def test_audit_list_with_an_unknown_outcome_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = audit_log(tmp_path)
    line = one_line_failure(["audit", "list", "--path", str(path), "--outcome", "bogus"], capsys)
    assert "'bogus'" in line and "executed" in line


def test_snapshots_list_with_a_bad_workload_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n", encoding="utf-8")
    line = one_line_failure(["snapshots", "list", "nope", "--config", str(settings)], capsys)
    assert "'nope'" in line and "namespace/name" in line


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("cluster: {namespaces: 5}\n", "cluster.namespaces"),
        ("workloads: {shop/web: {bogus: 1}}\n", "workloads.shop/web.bogus"),
        ("workloads: {shop/web: {max_replicas: many}}\n", "workloads.shop/web.max_replicas"),
        ("workloads: {shop/web: {min_replicas: 9}}\n", "workloads.shop/web"),
        ("workloads: {web: {max_replicas: 3}}\n", "workloads.web"),
        ("workloads: {shop/web: 3}\n", "workloads.shop/web"),
        ("guardrails: {min_replicas: 9}\n", "guardrails"),
        ("guardrails: {cooldown_up_s: -1}\n", "guardrails.cooldown_up_s"),
        ("guardrails: {critical_patterns: redis}\n", "guardrails.critical_patterns"),
        ("prometheus: {url: not a url}\n", "prometheus.url"),
        ("prometheus: {url: 'ftp://prometheus:9090'}\n", "prometheus.url"),
        ("prometheus: {rate_window: soon}\n", "prometheus.rate_window"),
        ("mode: sometimes\n", "mode"),
        ("loop: {interval_s: often}\n", "loop.interval_s"),
    ],
)
def test_settings_errors_name_the_full_key_in_our_own_words(
    tmp_path: Path, text: str, key: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    message = str(raised.value)
    assert message.startswith(f"{key}: "), message
    for leak in ("Input should", "Value error", "(got {", "validation error", "pydantic"):
        assert leak not in message, message
    assert "\n" not in message and message.endswith(".")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9090", "https://prometheus.example:443/prom"])
def test_a_real_prometheus_url_is_accepted(tmp_path: Path, url: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(f"prometheus: {{url: '{url}'}}\n", encoding="utf-8")
    assert load_settings(path, environ={}).prometheus.url == url


def test_log_lines_carry_iso_8601_utc_times() -> None:
    record = logging.LogRecord("claudescale.x", logging.INFO, __file__, 1, "hello", None, None)
    record.created = 1_800_000_000.25
    entry = orjson.loads(JsonFormatter().format(record))
    moment = datetime.fromisoformat(entry["ts"])
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
    assert moment.timestamp() == pytest.approx(1_800_000_000.25, abs=1e-3)


def test_approvals_list_all_shows_no_expiry_on_used_approvals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n", encoding="utf-8")
    store = ApprovalStore(tmp_path / "audit.jsonl.state" / "approvals.json", SystemClock())
    change = {
        "workload": "shop/web",
        "uid": "uid-1",
        "from": 3,
        "to": 4,
        "resource_version": "41",
        "change_sha256": "0" * 64,
        "action": "scale_up",
        "reason": "cpu 85%",
        "source": "rules",
        "actor": "rules",
    }
    used, _ = store.create(change, ttl_s=300.0, reuse_pending=False)
    assert store.approve(used.id, actor="cli:alice").ok
    assert store.consume(used.id, change_sha256="0" * 64, actor="executor").ok
    pending, _ = store.create(
        {**change, "change_sha256": "1" * 64}, ttl_s=300.0, reuse_pending=False
    )
    assert main(["approvals", "list", "--all", "--config", str(settings)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "[used]" in lines[used.id] and "expires" not in lines[used.id]
    assert "expires in" in lines[pending.id]


def test_the_log_formatter_still_writes_one_json_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("claudescale.test_hygiene")
    logger.addHandler(handler)
    try:
        logger.warning("two\nlines", extra={"workload": "shop/web"})
    finally:
        logger.removeHandler(handler)
    entry = orjson.loads(stream.getvalue())
    assert entry["message"] == "two\nlines" and entry["workload"] == "shop/web"
