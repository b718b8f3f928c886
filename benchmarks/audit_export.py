"""``claudescale audit export`` of a million records: time and peak memory, JSON and CSV.

Run: ``.venv/bin/python -m benchmarks.audit_export [--records N] [--small-records N]``.
Writes ``benchmarks/results/audit_export.json``. The log is generated with ``AuditLog``
(``durable=False``: fsync per record would only slow the set-up) in 64 MiB segments, with a
realistic mix of record kinds. Each export runs as the real command in a child process; its
peak resident memory comes from ``wait4``'s rusage for that child alone, next to the peak of
the same command that only parses its arguments (``--help``). Exporting a smaller log too
shows that memory does not grow with the number of records (the export streams). Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import write_results
from claudescale.audit import AuditLog
from claudescale.testing.clock import ManualClock

ROTATE_BYTES = 64 * 1024 * 1024
WORKLOADS = [f"shop/web-{n}" for n in range(20)]
SOURCES = ["rules", "model_sampling", "model_provider", "mcp_client", "cli", "rollback"]


def _fields(n: int) -> tuple[str, dict[str, Any]]:
    workload = WORKLOADS[n % len(WORKLOADS)]
    source = SOURCES[n % len(SOURCES)]
    actor = "cli:alice" if source in ("cli", "rollback") else source
    kind = ("proposal", "evaluation", "verdict", "intent", "outcome")[n % 5]
    fields: dict[str, Any] = {"workload": workload, "source": source, "actor": actor}
    if kind == "proposal":
        fields.update(action="scale_up", target=4, reason="CPU 83.5% of requests is above 60%.")
    elif kind == "evaluation":
        fields.update(code="ok", now=float(n), state={"replicas": 3, "resource_version": str(n)})
    elif kind == "verdict":
        fields.update(
            outcome="executed", code="ok", message=f"Scaled {workload} 3→4: CPU 83.5% of requests."
        )
    else:
        fields.update(intent_id=f"{n:032x}", code="ok", to=4, **{"from": 3})
    return kind, fields


def generate(path: Path, records: int) -> float:
    """Write ``records`` records; returns the seconds it took."""
    clock = ManualClock()
    started = time.perf_counter()
    with AuditLog(path, ROTATE_BYTES, clock) as log:
        for n in range(records):
            kind, fields = _fields(n)
            log.append(kind, fields)
            clock.advance(0.01)
    return time.perf_counter() - started


def _child(arguments: list[str]) -> tuple[float, int]:
    """Run a child; returns (wall seconds, peak RSS in KiB) of that child alone."""
    started = time.perf_counter()
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{arguments} failed with status {process.returncode}")
    return time.perf_counter() - started, int(usage.ru_maxrss)


def export(path: Path, form: str, output: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "claudescale.cli.main", "audit", "export"]
    seconds, peak_kib = _child(
        [*command, "--path", str(path), "--format", form, "--output", str(output)]
    )
    lines = sum(1 for _ in output.open("rb"))
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "output_mib": round(output.stat().st_size / 2**20, 1),
        "lines": lines,
    }


def run(records: int, small_records: int, directory: Path) -> dict[str, Any]:
    big = directory / "big" / "audit.jsonl"
    small = directory / "small" / "audit.jsonl"
    generate_s = generate(big, records)
    generate(small, small_records)
    log_bytes = sum(p.stat().st_size for p in big.parent.glob("audit.jsonl*"))
    baseline = [sys.executable, "-m", "claudescale.cli.main", "audit", "export", "--help"]
    startup_s, startup_kib = _child(baseline)
    results: dict[str, Any] = {
        "records": records,
        "log_mib": round(log_bytes / 2**20, 1),
        "segments": len([p for p in big.parent.glob("audit.jsonl*") if "lock" not in p.name]),
        "generate_seconds": round(generate_s, 1),
        "cli_startup_seconds": round(startup_s, 2),
        "cli_startup_peak_rss_mib": round(startup_kib / 1024, 1),
    }
    for form in ("json", "csv"):
        exported = export(big, form, directory / f"big.{form}")
        exported["records_per_s"] = round(records / exported["seconds"])
        results[f"export_{form}"] = exported
        results[f"export_{form}_{small_records}_records"] = export(
            small, form, directory / f"small.{form}"
        )
    results.update(
        python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count()
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small-records", type=int, default=10_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Where to write the logs (default: a temp dir)."
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        results = run(args.records, args.small_records, Path(directory))
    write_results("audit_export", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
