"""`claudescale demo`: its story scales demo/web and its summary comes from its audit log.

The story is played deterministically on a manual clock (the demo's plan, the sandbox, the
real Kubernetes adapter, the executor and the loop, with CPU read from the sandbox's counters
instead of a Prometheus). The real demo runs too, in its shortest configuration under a hard
deadline, for what only a real run shows: its printed summary recounts its own audit log, and
it leaves no process behind, also when stopped with Ctrl-C, it draws report.png (checked
from the PNG header: a PNG of the promised size) and prints a graph link per panel, and its
sandbox, enforcing the Roles of manifests/ as written, refused nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from claudescale.audit import iter_records, verify
from claudescale.demo.panels import REPORT_METRICS
from claudescale.demo.report import REPORT_SIZE_PX
from claudescale.demo.summary import render_summary, summarise
from claudescale.testing.sandbox import PlayDemoStory

DEMO = [sys.executable, "-m", "claudescale.cli.main", "demo", "--no-view"]
SHORTEST_DURATION_S = 10
"""The shortest demo there is (``DemoPlan`` refuses less)."""
DEMO_DEADLINE_S = 90.0
"""Real seconds a real demo run may take: Prometheus's start, its first full window, the run."""
STORY_DURATION_S = 120.0
"""The story on the manual clock: 120 cycles of 1 s, timings scaled ×1/15."""


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


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which must come first."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


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


async def test_the_demo_story_scales_web_and_its_summary_recounts_its_audit_log(
    play_demo_story: PlayDemoStory,
) -> None:
    harness = await play_demo_story(STORY_DURATION_S)

    summary = printed_summary(render_summary(summarise(harness.audit_path)))
    assert summary == recount(harness.audit_path)
    assert summary["actions"][0] >= 1, "the demo changed nothing"
    assert summary["actions"][1] >= 1 and summary["actions"][2] >= 1, "no way up and back"
    assert summary["peak"][1] == "demo/web" and summary["peak"][0] > 100.0
    assert verify(harness.audit_path).ok
    # The story: demo/web up through the ramp and spike, and back down one at a time.
    executed = harness.records("outcome", workload="demo/web")
    moves = [(r["from"], r["to"]) for r in executed if r["code"] == "ok"]
    assert moves == [(3, 4), (4, 5), (5, 4), (4, 3)]


@pytest.mark.prometheus
@pytest.mark.slow
async def test_the_real_demo_prints_the_summary_of_its_own_audit_log(tmp_path: Path) -> None:
    output = tmp_path / "demo-output"
    command = [*DEMO, "--duration", str(SHORTEST_DURATION_S), "--output", str(output)]
    with anyio.fail_after(DEMO_DEADLINE_S):
        done = await anyio.run_process(command, check=False)
    stdout = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    summary = printed_summary(stdout)
    assert summary == recount(summary["audit_path"])
    assert verify(summary["audit_path"]).ok
    run_dir = summary["audit_path"].parent
    assert json.loads((run_dir / "summary.json").read_text())["actions"] == summary["actions"][0]
    assert not (output / "current.json").exists()
    assert processes_mentioning(str(run_dir)) == []
    report = re.search(r"^claudescale demo: report (\S+) \((\d+) series", stdout, re.MULTILINE)
    assert report is not None, stdout
    assert Path(report.group(1)) == output / "report.png" and int(report.group(2)) >= 6
    for picture in (output / "report.png", run_dir / "report.png"):
        assert png_size(picture) == REPORT_SIZE_PX
        assert picture.stat().st_size > 20_000, "a picture with lines in it"
    assert "the sandbox enforced the Roles in" in stdout
    assert "as written: no request was refused." in stdout, "the demo needed more than the Role"
    links = re.findall(r"^    .+: (http://127\.0\.0\.1:\d+/graph\?g0\.expr=\S+)$", stdout, re.M)
    assert len(links) == len(REPORT_METRICS)


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
