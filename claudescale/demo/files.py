"""The demo's files: a fresh run directory per run, and ``current.json``, which names the
running sandbox for ``make demo-load``.

Layer: edge (local files). It must not start anything.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from claudescale.demo.plan import LOADED, NAMESPACE, DemoPlan

CURRENT = "current.json"


def new_run_dir(output: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        run_dir = output / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            continue
        return run_dir
    raise FileExistsError(f"Cannot make a new run directory under {output}.")


def write_current(path: Path, plan: DemoPlan, run_dir: Path, sandbox: str, prom: str) -> None:
    data = {
        "pid": os.getpid(),
        "run_dir": str(run_dir),
        "sandbox_url": sandbox,
        "prometheus_url": prom,
        "duration_s": plan.duration_s,
        "speed": plan.speed,
        "workload": f"{NAMESPACE}/{LOADED}",
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
