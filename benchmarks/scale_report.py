"""The ``benchmarks.service_scale`` section of ``benchmarks/RESULTS.md``: the table, the
verdicts against the issue's targets, where the memory goes, and the restart paragraph.

Layer: benchmarks (writes one marked section of RESULTS.md, nothing else).
"""

from __future__ import annotations

from typing import Any

from benchmarks.service_process import RESULTS_MD, write_section

TARGETS = {"cycle_s": 1.0, "queries_per_cycle": 1, "peak_rss_mib": 200 * 1e6 / 2**20}
"""The issue's bar at 5,000 workloads: under 1 s, one PromQL query, under 200 MB (190.7 MiB)."""


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
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


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """The measures per size, then the verdicts against the issue's targets."""
    lines = [
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
    return [*lines, "", "Targets (a cycle over 5,000 workloads):", *verdicts(rows), ""]


def _memory_why(rows: list[dict[str, Any]]) -> list[str]:
    """Where the memory goes (the before figures were measured on 2026-12-01)."""
    if not rows:
        return []
    small, large = rows[0], rows[-1]
    return [
        f"Where the memory goes: {small['rss_start_mib']:g} MiB at {small['workloads']:,} "
        "workloads are the imported libraries (kubernetes-asyncio's generated models alone "
        "about 64 MiB; pydantic and the settings). `claudescale run` without `mcp.enabled` "
        "imports no MCP SDK, uvicorn or starlette (`tests/test_lean_imports.py`; 131 MiB "
        "before), and the workload cache keeps of each object only what a `WorkloadState` "
        "is made of (`adapters/kubernetes/compact.py`; the raw JSON was about 50 MiB at "
        "5,000): the peak at 5,000 went from 232 to about 169 MiB. Without an MCP endpoint "
        f"no series of readings is kept: {large['rss_start_mib']:g} → "
        f"{large['rss_end_mib']:g} MiB over the window at {large['workloads']:,}.",
        "",
    ]


def markdown(
    rows: list[dict[str, Any]],
    setup: dict[str, Any],
    restart: dict[str, Any],
    kept_restart: list[str] | None = None,
) -> None:
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
        *_table(rows),
    ]
    lines += _memory_why(rows)
    if kept_restart is not None:
        lines += kept_restart
    elif restart:
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
            f"{scaled}{_from_snapshot(restart)}",
            "",
        ]
    write_section("benchmarks.service_scale", lines)


def _from_snapshot(restart: dict[str, Any]) -> str:
    """The second and third starts of ``audit_restart --twice``, when they were measured."""
    if "second_restart_s" not in restart:
        return ""
    return (
        " The first start's clean close writes the snapshot of the recovered state "
        "(`<log>.recovered`, bound into the chain by a `state_checkpoint` record), so a second "
        "start verifies and folds only the log's tail after it: it took "
        f"{restart['second_restart_s']:g} s. A third start with "
        "`audit.full_verify_at_start: true` verifies the whole chain again: "
        f"{restart['full_verify_restart_s']:g} s."
    )


def restart_lines() -> list[str]:
    """The restart paragraph of this section of RESULTS.md as it stands (``--keep-restart``),
    with the blank line after it."""
    text = RESULTS_MD.read_text(encoding="utf-8")
    start = text.find("<!-- benchmarks.service_scale:start -->")
    end = text.find("<!-- benchmarks.service_scale:end -->")
    section = text[start:end].splitlines() if 0 <= start < end else []
    return [*[line for line in section if line.startswith("Restart with")][-1:], ""]


def ten_minutes_markdown(rows: list[dict[str, Any]], setup: dict[str, Any]) -> None:
    """The section of ``--ten-minutes``: the same measures over ten minutes per size."""
    lines = [
        "## Scale of the real service over ten minutes per size",
        "",
        f"Machine: {setup['machine']}. Date: {setup['date']}. Written by "
        "`python -m benchmarks.service_scale --ten-minutes` (not part of `make bench`, "
        "which measures 20 s per size to stay under ten minutes).",
        "",
        'Set-up and measures as in "Scale of the real service" above, over a window of '
        f"{setup['window_s']:g} s per size. RSS at the window's start and end shows whether "
        "memory grows while the service runs.",
        "",
        *_table(rows),
    ]
    write_section("benchmarks.service_scale.ten_minutes", lines)
