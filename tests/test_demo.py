"""`claudescale demo` end to end, shortened: its summary comes from its audit log, and it
leaves no process behind, also when stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from claudescale.audit import iter_records, verify

DEMO = [sys.executable, "-m", "claudescale.cli.main", "demo", "--no-view"]


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (the run directory of a demo)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def printed_summary(stdout: str) -> dict[str, Any]:
    def field(pattern: str) -> re.Match[str]:
        match = re.search(pattern, stdout, re.MULTILINE)
        assert match is not None, f"{pattern!r} is not in the demo's output:\n{stdout}"
        return match

    actions = field(r"^  actions: +(\d+) \((\d+) up, (\d+) down\)$")
    refusals = field(r"^  refusals: +(\d+)(?: \((.*)\))?$")
    peak = field(r"^  peak CPU: +([\d.]+)% of requests \((\S+)\)$")
    minutes = field(r"^  replica-minutes: +([\d.]+) over")
    audit = field(r"^  audit log: +(\S+)$")
    by_code = {}
    for part in (refusals.group(2) or "").split(", "):
        if part:
            code, count = part.split(" ")
            by_code[code] = int(count)
    return {
        "actions": tuple(int(actions.group(i)) for i in (1, 2, 3)),
        "refusals": (int(refusals.group(1)), by_code),
        "peak": (float(peak.group(1)), peak.group(2)),
        "replica_minutes": float(minutes.group(1)),
        "audit_path": Path(audit.group(1)),
    }


def recount(audit_path: Path) -> dict[str, Any]:
    """The summary's numbers, recomputed here from the raw records."""
    records = list(iter_records(audit_path))
    executed = [r for r in records if r["kind"] == "outcome" and r["code"] == "ok"]
    ups = sum(1 for r in executed if r["to"] > r["from"])
    refused = Counter(
        r["code"] for r in records if r["kind"] == "verdict" and r["code"] not in ("ok", "hold")
    )
    cycles = [r for r in records if r["kind"] == "cycle"]
    peak = max(
        (c for c in cycles if c["cpu_peak_percent"] is not None),
        key=lambda c: c["cpu_peak_percent"],
    )
    ends = [c["mono"] for c in cycles[1:]] + [records[-1]["mono"]]
    replica_s = sum(c["replicas"] * (end - c["mono"]) for c, end in zip(cycles, ends, strict=True))
    return {
        "actions": (len(executed), ups, len(executed) - ups),
        "refusals": (sum(refused.values()), dict(refused)),
        "peak": (round(peak["cpu_peak_percent"], 1), peak["cpu_peak_workload"]),
        "replica_minutes": round(replica_s / 60, 2),
        "audit_path": audit_path,
    }


@pytest.mark.prometheus
@pytest.mark.slow
async def test_the_demo_summary_is_computed_from_its_audit_log(tmp_path: Path) -> None:
    output = tmp_path / "demo-output"
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [*DEMO, "--duration", "40", "--output", str(output)], check=False
        )
    stdout = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    summary = printed_summary(stdout)
    assert summary == recount(summary["audit_path"])
    assert summary["actions"][0] >= 1, "the demo changed nothing"
    assert summary["peak"][1] == "demo/web" and summary["peak"][0] > 100.0
    assert verify(summary["audit_path"]).ok
    run_dir = summary["audit_path"].parent
    assert json.loads((run_dir / "summary.json").read_text())["actions"] == summary["actions"][0]
    assert not (output / "current.json").exists()
    assert processes_mentioning(str(run_dir)) == []


@pytest.mark.prometheus
@pytest.mark.slow
async def test_ctrl_c_stops_the_demo_cleanly_and_leaves_no_process_behind(
    tmp_path: Path,
) -> None:
    output = tmp_path / "demo-output"
    command = [*DEMO, "--duration", "300", "--output", str(output)]
    async with await anyio.open_process(command, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        seen = b""
        with anyio.fail_after(30):
            while b"phase idle" not in seen:
                seen += await process.stdout.receive()
        current = json.loads((output / "current.json").read_text())
        assert current["pid"] == process.pid
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            async for chunk in process.stdout:
                seen += chunk
            status = await process.wait()
    assert status == 0
    assert "claudescale demo: summary from the audit log" in seen.decode()
    assert not (output / "current.json").exists()
    assert processes_mentioning(current["run_dir"]) == []
