"""Runs every trace through the HPA reference and claudescale; writes the results.

Run: ``.venv/bin/python -m benchmarks.hpa [--traces step,spike] [--minutes N] [--no-plots]``.
Writes ``benchmarks/results.json`` (its ``traces``; other sections, ``model_consults``
among them, are written by other benchmarks and kept), the control-quality section of
``benchmarks/RESULTS.md``, and one PNG per trace under ``benchmarks/hpa/plots/``.
Benchmarks are not tests: this measures and records, it never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson

from benchmarks.common import machine
from benchmarks.hpa.claudescale_run import run_claudescale
from benchmarks.hpa.hpa import HpaSpec
from benchmarks.hpa.measures import Ledger
from benchmarks.hpa.report import PLOTS_DIR, aim, plot_trace, write_markdown
from benchmarks.hpa.sim import run_hpa, unavoidable_overload_s
from benchmarks.hpa.traces import Trace, load_trace, trace_names
from benchmarks.hpa.world import Pipeline
from claudescale.config.groups import LoopSettings

BENCH_DIR = Path(__file__).parents[1]
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
CONTROLLERS = ("hpa", "claudescale", "claudescale_model")


async def run_trace(
    trace: Trace, pipeline: Pipeline, spec: HpaSpec, work: Path, duration_s: float | None
) -> tuple[dict[str, Any], dict[str, Ledger], dict[str, Any]]:
    ledgers: dict[str, Ledger] = {}
    extras: dict[str, Any] = {}
    ledgers["hpa"] = await run_hpa(trace, pipeline, spec, duration_s=duration_s)
    for key, model in (("claudescale", False), ("claudescale_model", True)):
        ledger, extra = await run_claudescale(
            trace, pipeline, work / trace.name / key, model=model, duration_s=duration_s
        )
        ledgers[key], extras[key] = ledger, extra
    end_s = trace.duration_s if duration_s is None else min(duration_s, trace.duration_s)
    entry: dict[str, Any] = {
        "description": trace.description,
        "duration_s": end_s,
        "load_steps_s": list(trace.load_steps_s),
        "unavoidable_overload_seconds": unavoidable_overload_s(
            trace, pipeline, spec.target_utilisation_percent, end_s
        ),
    }
    for key in CONTROLLERS:
        entry[key] = ledgers[key].summary(trace.load_steps_s, end_s)
        if key in extras:
            entry[key]["would_need_a_human"] = extras[key]["would_need_a_human"]
    entry["aim"] = aim(entry["claudescale"], entry["hpa"])
    entry["aim_model"] = aim(entry["claudescale_model"], entry["hpa"])
    return entry, ledgers, extras


def merged(results: dict[str, Any]) -> dict[str, Any]:
    """Our sections over whatever results.json already holds (others write the rest)."""
    try:
        existing = orjson.loads(RESULTS_JSON.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        existing = {}
    base: dict[str, Any] = {
        "reaction": None,
        "reaction_note": "Not measured by benchmarks.hpa: the real closed loop's reaction time "
        "is measured against the sandbox and Prometheus by another benchmark.",
        "scale": None,
        "scale_note": "Not measured by benchmarks.hpa: cycle time, CPU and RSS of the real "
        "`claudescale run` process are measured by another benchmark.",
    }
    base.update({k: v for k, v in existing.items() if v is not None})
    base.update(results)
    for section in ("reaction", "scale"):
        if base[section] is not None:  # measured by its own benchmark: our note is stale
            base.pop(f"{section}_note", None)
    return base


async def main_async(args: argparse.Namespace) -> int:
    names = args.traces.split(",") if args.traces else trace_names()
    duration_s = args.minutes * 60 if args.minutes else None
    pipeline, spec = Pipeline(), HpaSpec(target_utilisation_percent=_target_percent())
    traces: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="claudescale-hpa-") as work:
        for name in names:
            started = time.perf_counter()
            trace = load_trace(name)
            entry, ledgers, _ = await run_trace(trace, pipeline, spec, Path(work), duration_s)
            traces[name] = entry
            if not args.no_plots:
                plot_trace(
                    trace, ledgers, PLOTS_DIR / f"{name}.png", spec.target_utilisation_percent
                )
            took_s = time.perf_counter() - started
            print(f"{name}: {_line(entry)} ({took_s:.1f} s)", flush=True)
    results = {
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "control_quality": _setup(pipeline, spec),
        "traces": traces,
    }
    if args.minutes:
        print("A shortened run (--minutes): nothing written.")
        return 0
    document = merged(results)
    RESULTS_JSON.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    write_markdown(RESULTS_MD, document)
    print(f"Wrote {RESULTS_JSON}, {RESULTS_MD} and the plots in {PLOTS_DIR}.")
    return 0


def _target_percent() -> int:
    """claudescale's ``loop.target_cpu_percent`` default, the HPA's averageUtilization."""
    target = LoopSettings().target_cpu_percent
    if not float(target).is_integer():
        raise SystemExit(f"The HPA takes an integer utilisation; the target is {target}.")
    return int(target)


def _setup(pipeline: Pipeline, spec: HpaSpec) -> dict[str, Any]:
    return {
        "target_cpu_percent": spec.target_utilisation_percent,
        "replicas": [spec.min_replicas, spec.max_replicas],
        "cpu_request_cores": 0.25,
        "pod_startup_s": pipeline.startup_s,
        "scrape_interval_s": pipeline.scrape_interval_s,
        "rate_window_s": pipeline.rate_window_s,
        "claudescale_poll_s": LoopSettings().interval_s,
        "hpa_sync_period_s": spec.sync_period_s,
        "hpa_scale_down_stabilisation_s": spec.scale_down_stabilisation_s,
        "overload_seconds": "seconds with demand above ready pods × 250m × the target",
        "replica_seconds": "integral of the Deployment's replicas over the trace",
    }


def _line(entry: dict[str, Any]) -> str:
    parts = []
    for key in CONTROLLERS:
        m = entry[key]
        parts.append(f"{key} overload {m['overload_seconds']:g} s, {m['replica_seconds']:g} rs")
    return "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hpa", description=__doc__)
    parser.add_argument("--traces", help="comma-separated trace names (default: all)")
    parser.add_argument("--minutes", type=float, help="only the first N minutes; writes nothing")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
