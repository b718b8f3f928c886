"""Audit log throughput: appends per second (plain and durable) and verified records per second.

Run: ``.venv/bin/python -m benchmarks.audit_append [--records N] [--durable-records N]``.
Writes ``benchmarks/results/audit.json``. Durable appends fsync each record, so they are
measured over fewer records; the rate is what matters.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import write_results
from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog, iter_records, verify

ROTATE_BYTES = 64 * 1024 * 1024
FIELDS = {
    "workload": "shop/web",
    "source": "rules",
    "actor": "rules",
    "code": "ok",
    "from": 3,
    "to": 4,
    "cpu_percent": 83.5,
    "reason": "CPU 83.5% of requests is above the 60% target.",
}


def _append(path: Path, records: int, *, durable: bool) -> float:
    with AuditLog(path, ROTATE_BYTES, SystemClock()) as log:
        started = time.perf_counter()
        for n in range(records):
            log.append("outcome", {**FIELDS, "n": n}, durable=durable)
        return records / (time.perf_counter() - started)


def _timed_rate(records: int, work: Any) -> float:
    started = time.perf_counter()
    work()
    return records / (time.perf_counter() - started)


def run(records: int, durable_records: int, directory: Path) -> dict[str, Any]:
    plain = directory / "plain" / "audit.jsonl"
    durable = directory / "durable" / "audit.jsonl"
    appends_per_s = _append(plain, records, durable=False)
    durable_appends_per_s = _append(durable, durable_records, durable=True)
    log_bytes = sum(p.stat().st_size for p in plain.parent.glob("audit.jsonl*"))

    started = time.perf_counter()
    result = verify(plain)
    verify_per_s = records / (time.perf_counter() - started)
    read_per_s = _timed_rate(records, lambda: sum(1 for _ in iter_records(plain)))
    if not result.ok or result.records != records:
        raise SystemExit(f"The benchmark's own log did not verify: {result.message}")
    return {
        "records": records,
        "durable_records": durable_records,
        "log_bytes": log_bytes,
        "appends_per_s": round(appends_per_s),
        "durable_appends_per_s": round(durable_appends_per_s),
        "verify_records_per_s": round(verify_per_s),
        "iter_records_per_s": round(read_per_s),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--durable-records", type=int, default=2_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Where to write the logs (default: a temp dir)."
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        results = run(args.records, args.durable_records, Path(directory))
    write_results("audit", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
