"""What the real ``claudescale run`` process costs per cycle, measured from outside it.

Run: ``.venv/bin/python -m benchmarks.service_scale [--sizes 10,100,1000,5000] [--minutes M]``.
Writes the ``scale`` and ``scale_setup`` keys of ``benchmarks/results.json`` (keeping the
others) and its section of ``benchmarks/RESULTS.md``; then ``benchmarks.audit_restart``
measures a restart with a year of audit log.

For each size the sandbox runs with N opted-in Deployments of one replica in namespace
``bench`` (250m requested, 0.1 cores used: 40 %, held at the minimum of 1 replica), Debian's
Prometheus scrapes it every second, and ``claudescale run`` runs in observe mode as a child
process with ``loop.interval_s`` at 1 ms, so its cycles run back to back. After three cycles
of warm-up the window opens at a cycle's end and closes at a cycle's end after ``--minutes``
(default 20 s: a full ``make bench`` must stay under ten minutes; the issue asks for ten
minutes per size, which ``--minutes 10`` gives). Measured from outside the process:

- cycle time: the time between consecutive ``cycle`` records of the audit log (back to back,
  so one cycle's work plus the loop's turn-around), median and 95th percentile;
- CPU seconds per cycle: the process's user + system time (``/proc/<pid>/stat``, every thread)
  over the window, divided by the cycles in it;
- peak RSS: ``VmHWM`` of ``/proc/<pid>/status`` at the end (start-up included), and ``VmRSS``
  at the window's start and end, which shows whether memory still grows;
- PromQL queries per cycle: Prometheus's own count of ``/api/v1/query`` requests over the
  window, divided by the cycles (nothing else queries it meanwhile).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from benchmarks.service_process import (
    Service,
    Stack,
    cpu_seconds,
    memory_mib,
    merge_results,
    percentile,
    prometheus_queries,
    running_stack,
    service_settings,
    write_section,
)

NAMESPACE = "bench"
TARGETS = {"cycle_s": 1.0, "queries_per_cycle": 1, "peak_rss_mib": 200 * 1e6 / 2**20}
"""The issue's bar at 5,000 workloads: under 1 s, one PromQL query, under 200 MB (190.7 MiB)."""


def _sim_config(workloads: int) -> dict[str, Any]:
    return {
        "namespaces": [NAMESPACE],
        "phases": {"idle_cores": 0.1},
        "workloads": [
            {"namespace": NAMESPACE, "name": f"app-{n:05d}", "replicas": 1}
            for n in range(workloads)
        ],
    }


def _settings(stack: Stack) -> dict[str, Any]:
    return service_settings(
        stack,
        NAMESPACE,
        guardrails={"min_replicas": 1, "max_replicas": 5},
        loop={"interval_s": 0.001},
    )


async def measure(workloads: int, window_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="claudescale-scale-") as scratch:
        directory = Path(scratch)
        async with running_stack(
            directory, _sim_config(workloads), namespace=NAMESPACE, pods=workloads
        ) as stack:
            service = Service(_settings(stack), directory)
            try:
                return await anyio.to_thread.run_sync(_window, service, stack, workloads, window_s)
            finally:
                await anyio.to_thread.run_sync(service.stop)


def _window(service: Service, stack: Stack, workloads: int, window_s: float) -> dict[str, Any]:
    started = time.monotonic()
    service.wait_for("three cycles", lambda: len(service.records("cycle")) >= 3, 600.0)
    warm_up_s = time.monotonic() - started
    first = _at_cycle_end(service)
    cpu0, queries0 = cpu_seconds(service.pid), prometheus_queries(stack.prometheus_url)
    rss0 = memory_mib(service.pid)["rss_mib"]
    deadline = time.monotonic() + window_s
    service.wait_for("the window's end", lambda: time.monotonic() >= deadline, window_s + 60)
    last = _at_cycle_end(service)
    cpu1, queries1 = cpu_seconds(service.pid), prometheus_queries(stack.prometheus_url)
    memory = memory_mib(service.pid)
    cycles = [r for r in service.records("cycle") if first["seq"] <= r["seq"] <= last["seq"]]
    periods = [b["mono"] - a["mono"] for a, b in itertools.pairwise(cycles)]
    count = len(periods)
    return {
        "workloads": workloads,
        "seen": cycles[-1]["workloads"],
        "cycles": count,
        "window_s": round(last["mono"] - first["mono"], 1),
        "cycle_s": round(statistics.median(periods), 4),
        "cycle_p95_s": round(percentile(periods, 0.95), 4),
        "cpu_s": round((cpu1 - cpu0) / count, 4),
        "peak_rss_mib": round(memory["peak_rss_mib"], 1),
        "rss_start_mib": round(rss0, 1),
        "rss_end_mib": round(memory["rss_mib"], 1),
        "queries_per_cycle": round((queries1 - queries0) / count, 2),
        "warm_up_s": round(warm_up_s, 1),
    }


def _at_cycle_end(service: Service) -> dict[str, Any]:
    """Wait for the next ``cycle`` record (polling the log every 10 ms) and return it."""
    seen = len(service.records("cycle"))
    service.wait_for("the next cycle", lambda: len(service.records("cycle")) > seen, 120.0, 0.01)
    return service.records("cycle")[-1]


def _verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Which of the issue's targets the largest size meets, and which it misses."""
    if not rows:
        return []
    row = max(rows, key=lambda r: r["workloads"])
    checks = [
        ("cycle under 1 s", row["cycle_s"] < TARGETS["cycle_s"], f"{row['cycle_s']:g} s"),
        (
            "one PromQL query per cycle",
            row["queries_per_cycle"] <= TARGETS["queries_per_cycle"],
            f"{row['queries_per_cycle']:g}",
        ),
        (
            "under 200 MB peak RSS",
            row["peak_rss_mib"] < TARGETS["peak_rss_mib"],
            f"{row['peak_rss_mib']:g} MiB",
        ),
    ]
    return [
        f"- {name} at {row['workloads']:,} workloads: {'met' if ok else 'MISSED'} ({value})."
        for name, ok, value in checks
    ]


def _memory_why(rows: list[dict[str, Any]]) -> list[str]:
    """Where the memory goes, from these rows and a tracemalloc profile taken by hand."""
    if not rows or max(r["peak_rss_mib"] for r in rows) < TARGETS["peak_rss_mib"]:
        return []
    small, large = rows[0], rows[-1]
    return [
        f"Where the memory goes: the process holds {small['rss_start_mib']:g} MiB at "
        f"{small['workloads']:,} workloads, before any per-workload state: the imported "
        "libraries (importing kubernetes-asyncio's generated client models alone takes about "
        "64 MiB; the MCP SDK and pydantic schemas, which `claudescale run` loads since it "
        "shares `serve`'s assembly, most of the rest). A tracemalloc profile of the service "
        "at 5,000 workloads (taken by hand on 2026-12-01) found the workload cache's raw "
        "Deployment and pod JSON the largest per-workload item (about 50 MiB), then the "
        "assistant's per-workload series of readings (`RecordingMetrics`, up to 720 "
        "readings a workload, one per cycle, about 100 bytes each: it fills for an hour at "
        "the default 15 s poll, for 12 minutes with cycles back to back, and is still "
        f"filling at the window's end, hence RSS {large['rss_start_mib']:g} → "
        f"{large['rss_end_mib']:g} MiB at {large['workloads']:,}), then the loop's own state. "
        "The CPU trend (a fixed array of bucketed sums, under 1 KB a workload) and the "
        "rules' stabilisation window (at most one entry per replica count) no longer grow "
        "with the poll rate.",
        "",
    ]


def _markdown(rows: list[dict[str, Any]], setup: dict[str, Any], restart: dict[str, Any]) -> None:
    lines = [
        "## Scale of the real service (`claudescale run`, measured from outside)",
        "",
        f"Machine: {setup['machine']}. Date: {setup['date']}. Written by "
        "`python -m benchmarks.service_scale` (part of `make bench`).",
        "",
        "The sandbox with N Deployments, Debian's Prometheus scraping every second, and "
        "`claudescale run` in observe mode as a child process with cycles back to back "
        f"(`loop.interval_s` 1 ms). Each size is measured over a window of "
        f"{setup['window_s']:g} s after three warm-up cycles: {setup['window_note']} Cycle time "
        "is the time between consecutive `cycle` audit records; CPU is the process's user + "
        "system time from /proc over the window per cycle; peak RSS is VmHWM at the end "
        "(start-up included); queries are Prometheus's own count of `/api/v1/query`.",
        "",
        "| workloads | cycles | cycle s (median) | cycle s (p95) | CPU s / cycle | peak RSS MiB "
        "| RSS MiB start → end | PromQL / cycle |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['workloads']:,} | {r['cycles']} | {r['cycle_s']:g} | {r['cycle_p95_s']:g} "
            f"| {r['cpu_s']:g} | {r['peak_rss_mib']:g} | {r['rss_start_mib']:g} → "
            f"{r['rss_end_mib']:g} | {r['queries_per_cycle']:g} |"
        )
    lines += ["", "Targets (a cycle over 5,000 workloads):", *_verdicts(rows), ""]
    lines += _memory_why(rows)
    if restart:
        year = restart.get("restart_s_year_estimate")
        scaled = (
            f" A restart reads every record, so a year's log would take about {year:g} s "
            f"(scaled from {restart['span_days']:g} days; `--restart-days 365` measures it)."
            if year is not None
            else ""
        )
        lines += [
            f"Restart with {restart['span_days']:g} days of audit log ({restart['records']:,} "
            f"records, {restart['actions']:,} actions, {restart['log_mib']:,.0f} MiB in "
            f"{restart['segments']} files, written by the real `AuditLog`; see "
            "`benchmarks/audit_restart.py`): constructing the real `Service` on it (open the "
            "log, verify the chain, rebuild the executor's memory, apply retention) took "
            f"{restart['restart_s']:g} s with a peak RSS of {restart['peak_rss_mib']:g} MiB."
            f"{scaled}",
            "",
        ]
    write_section("benchmarks.service_scale", lines)


RESTART_DAYS = 90.0
"""A year of log (1.3 GB, 3.2 million records) takes minutes to write and to read back here,
more than ``make bench`` can give it: 90 days by default, with the restart time scaled to a
year, and ``--restart-days 365`` for the real thing."""


def _restart(days: float) -> dict[str, Any]:
    """A restart with ``days`` of audit log, in a process of its own (see audit_restart)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.audit_restart", "--days", str(days)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])  # its last line
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000,5000", help="Workload counts.")
    parser.add_argument(
        "--minutes", type=float, default=1 / 3, help="Window per size (the issue asks for 10)."
    )
    parser.add_argument(
        "--restart-days",
        type=float,
        default=RESTART_DAYS,
        help="Days of audit log for the restart (0: none; the issue asks for 365).",
    )
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args(argv)
    window_s = args.minutes * 60
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"measuring {size} workloads for {window_s:g} s...", flush=True)
        rows.append(anyio.run(measure, size, window_s))
        print(rows[-1], flush=True)
    restart = _restart(args.restart_days) if args.restart_days > 0 else {}
    if restart:
        print(restart, flush=True)
    setup = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "window_s": window_s,
        "window_note": "ten minutes per size, as the issue asks."
        if args.minutes >= 10
        else "shorter than the ten minutes the issue asks for, so that `make bench` stays "
        "under ten minutes (`python -m benchmarks.service_scale --minutes 10` measures ten).",
        "loop_interval_s": 0.001,
        "scrape_interval_s": 1.0,
        "rate_window": "4s",
        "mode": "observe",
    }
    if not args.no_write:
        merge_results({"scale": rows, "scale_setup": setup, "restart": restart or None})
        _markdown(rows, setup, restart)
    for line in _verdicts(rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
