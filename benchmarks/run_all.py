"""Runs every benchmark in turn (``make bench``). Each writes its own file under results/.

Benchmarks are not tests: they measure, print and record; they never assert a speed.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "benchmarks.hpa",  # control quality against the HPA: results.json, RESULTS.md, plots
    "benchmarks.guardrails",
    "benchmarks.executor_burst",  # many workloads' proposals at once
    "benchmarks.audit_append",
    "benchmarks.audit_export",
    "benchmarks.sim_load",
    "benchmarks.cycle_cost",
    # the real `claudescale run` process: scale and restart (results.json "scale",
    # "restart"), then the closed loop's reaction time (results.json "reaction")
    "benchmarks.service_scale",
    "benchmarks.reaction",
    "benchmarks.mcp_consults",  # model consults: every poll against change-triggered
)


def main() -> int:
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        done = subprocess.run([sys.executable, "-m", module], check=False)
        if done.returncode != 0:
            print(f"{module} failed with status {done.returncode}.", file=sys.stderr)
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
