"""Reaction time of the real closed loop: from a load step to claudescale's scale write.

Run: ``.venv/bin/python -m benchmarks.reaction [--runs 3] [--poll-s 5]``. Writes the
``reaction`` key of ``benchmarks/results.json`` (keeping the others) and its section of
``benchmarks/RESULTS.md``.

The sandbox runs ``--runs`` Deployments of 2 replicas (250m requested each) at a fixed 0.3
cores (60 % of requests: inside the band, so nothing moves); Debian's Prometheus scrapes it
every second; ``claudescale run`` runs as a child process in autonomous mode with the
brief's guardrails (2 to 5 replicas, 90 s / 180 s cooldowns), ``rate()`` over 4 s and a
poll every ``--poll-s`` seconds. The risk thresholds are set out of reach so that the write
is not held for a person (nobody approves in a benchmark). Each run steps one Deployment to
0.6 cores (120 %) through the sandbox's control endpoint, after a random pause of up to
one poll interval (so the steps fall at different points of the poll), and measures, on the
wall clock:

- step → visible: until Prometheus's ``rate()`` for it first exceeds the band (66 %), polled
  every 100 ms from this process;
- step → write: until the audit log's ``intent`` record for it (written just before the
  scale PATCH);

against the floor, scrape interval + rate window + poll interval, and the issue's bar: a
write within one poll interval plus one scrape interval of the step becoming visible.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import urllib.request
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
    merge_results,
    running_stack,
    service_settings,
    write_section,
)
from claudescale.sim.prometheus import instant_query

NAMESPACE = "react"
REPLICAS = 2
REQUEST_CORES = 0.25
IDLE_CORES = 0.3
STEP_CORES = 0.6
SCRAPE_S = 1.0
RATE_WINDOW_S = 4.0
BAND_TOP_PERCENT = 66.0
UNREACHABLE = 1_000_000
NO_HUMAN_RISK = {
    key: UNREACHABLE
    for key in (
        "medium_change_percent",
        "high_change_percent",
        "medium_change_replicas",
        "high_change_replicas",
        "medium_recent_actions",
        "high_recent_actions",
    )
}


def _sim_config(runs: int) -> dict[str, Any]:
    return {
        "namespaces": [NAMESPACE],
        "workloads": [
            {"namespace": NAMESPACE, "name": f"step-{n}", "replicas": REPLICAS, "cores": IDLE_CORES}
            for n in range(runs)
        ],
    }


def _settings(stack: Stack, poll_s: float) -> dict[str, Any]:
    return service_settings(
        stack,
        NAMESPACE,
        mode="autonomous",
        guardrails={"min_replicas": 2, "max_replicas": 5},
        risk=NO_HUMAN_RISK,
        prometheus={"rate_window": f"{RATE_WINDOW_S:g}s"},
        loop={"interval_s": poll_s},
    )


async def measure(runs: int, poll_s: float) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="claudescale-reaction-") as scratch:
        directory = Path(scratch)
        async with running_stack(
            directory,
            _sim_config(runs),
            namespace=NAMESPACE,
            pods=runs * REPLICAS,
            settle_s=RATE_WINDOW_S + 2 * SCRAPE_S,
        ) as stack:
            service = Service(_settings(stack, poll_s), directory)
            try:
                return await anyio.to_thread.run_sync(_runs, service, stack, runs, poll_s)
            finally:
                await anyio.to_thread.run_sync(service.stop)


def _runs(service: Service, stack: Stack, runs: int, poll_s: float) -> list[dict[str, Any]]:
    service.wait_for("two cycles", lambda: len(service.records("cycle")) >= 2, 300.0)
    results = []
    phase = random.Random(12)
    for n in range(runs):
        # Runs follow each other's writes, which follow a cycle: without a random pause
        # every step would land at the same point of the poll interval.
        time.sleep(phase.uniform(0.0, poll_s))
        name = f"step-{n}"
        early = [r for r in service.records("intent") if r["workload"] == f"{NAMESPACE}/{name}"]
        if early:
            why = [r for r in service.records() if r.get("workload") == early[0]["workload"]]
            raise SystemExit(f"claudescale wrote {name} before its step: {why}")
        results.append(_one_run(service, stack, name, poll_s))
        print(results[-1], flush=True)
    return results


def _one_run(service: Service, stack: Stack, name: str, poll_s: float) -> dict[str, Any]:
    workload = f"{NAMESPACE}/{name}"
    step_wall = _step(stack.sandbox_address, name)
    query = (
        f'sum(rate(container_cpu_usage_seconds_total{{namespace="{NAMESPACE}",'
        f'pod=~"{name}-.*",container!="",container!="POD"}}[{RATE_WINDOW_S:g}s]))'
    )
    visible_wall: float | None = None

    def written() -> bool:
        nonlocal visible_wall
        if visible_wall is None:
            result = instant_query(stack.prometheus_url, query)
            cores = float(result[0]["value"][1]) if result else 0.0
            if 100.0 * cores / (REPLICAS * REQUEST_CORES) > BAND_TOP_PERCENT:
                visible_wall = time.time()
        return any(r["workload"] == workload for r in service.records("intent"))

    service.wait_for(f"a scale write of {workload}", written, 120.0, poll_s=0.1)
    intent = next(r for r in service.records("intent") if r["workload"] == workload)
    floor_s = SCRAPE_S + RATE_WINDOW_S + poll_s
    write_s = intent["ts"] - step_wall
    visible_s = None if visible_wall is None else visible_wall - step_wall
    return {
        "workload": workload,
        "from": intent["from"],
        "to": intent["to"],
        "step_to_visible_s": None if visible_s is None else round(visible_s, 2),
        "step_to_write_s": round(write_s, 2),
        "visible_to_write_s": None if visible_s is None else round(write_s - visible_s, 2),
        "floor_s": floor_s,
        "within_bar": visible_s is not None and write_s - visible_s <= poll_s + SCRAPE_S,
    }


def _step(address: str, name: str) -> float:
    """Step the load through the sandbox's control endpoint; the wall time it took effect
    (the middle of the request)."""
    body = orjson.dumps({"namespace": NAMESPACE, "name": name, "cores": STEP_CORES})
    request = urllib.request.Request(
        f"http://{address}/sim/v1/load",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    before = time.time()
    with urllib.request.urlopen(request, timeout=10.0) as answer:
        answer.read()
    return (before + time.time()) / 2


def summary(runs: list[dict[str, Any]], poll_s: float) -> dict[str, Any]:
    writes = [r["step_to_write_s"] for r in runs]
    return {
        "runs": runs,
        "median_step_to_write_s": round(statistics.median(writes), 2),
        "max_step_to_write_s": round(max(writes), 2),
        "floor_s": SCRAPE_S + RATE_WINDOW_S + poll_s,
        "bar_after_visible_s": poll_s + SCRAPE_S,
        "within_bar": sum(1 for r in runs if r["within_bar"]),
        "setup": {
            "scrape_interval_s": SCRAPE_S,
            "rate_window_s": RATE_WINDOW_S,
            "poll_interval_s": poll_s,
            "step": f"{IDLE_CORES:g} → {STEP_CORES:g} cores on {REPLICAS} pods requesting "
            f"{REQUEST_CORES * 1000:g}m (60 % → 120 %)",
            "mode": "autonomous, risk thresholds out of reach",
        },
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _markdown(result: dict[str, Any]) -> None:
    setup = result["setup"]
    lines = [
        "## Reaction time of the real closed loop",
        "",
        f"Date: {result['date']}. Written by `python -m benchmarks.reaction` (part of "
        "`make bench`).",
        "",
        f"The sandbox, Debian's Prometheus scraping every {setup['scrape_interval_s']:g} s and "
        f"`claudescale run` ({setup['mode']}; `rate()` over {setup['rate_window_s']:g} s, a "
        f"poll every {setup['poll_interval_s']:g} s); a load step of {setup['step']} on one "
        "Deployment per run. Step → visible is when Prometheus's rate first exceeds the "
        "band's top (66 %); step → write is the audit log's `intent` record, written just "
        "before the scale PATCH.",
        "",
        "| run | step → visible s | step → write s | visible → write s | change |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for n, r in enumerate(result["runs"], 1):
        lines.append(
            f"| {n} | {r['step_to_visible_s']} | {r['step_to_write_s']:g} | "
            f"{r['visible_to_write_s']} | {r['from']} → {r['to']} |"
        )
    lines += [
        "",
        f"Median step → write {result['median_step_to_write_s']:g} s (max "
        f"{result['max_step_to_write_s']:g} s) against a floor of {result['floor_s']:g} s "
        "(scrape interval + rate window + poll interval). The bar, a write within one poll "
        f"interval plus one scrape interval ({result['bar_after_visible_s']:g} s) of the step "
        f"becoming visible, was met in {result['within_bar']} of {len(result['runs'])} runs.",
        "",
    ]
    if result["max_step_to_write_s"] < result["floor_s"]:
        lines += [
            "Every write came before the floor: a step that doubles the load lifts the "
            "`rate()` over the band after one or two scrapes, long before the window has "
            "filled, so the write waits only for the next poll (the steps fall at random "
            "points of it).",
            "",
        ]
    write_section("benchmarks.reaction", lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="Load steps, one per Deployment.")
    parser.add_argument("--poll-s", type=float, default=5.0, help="loop.interval_s.")
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args(argv)
    runs = anyio.run(measure, args.runs, args.poll_s)
    result = summary(runs, args.poll_s)
    if not args.no_write:
        merge_results({"reaction": result})
        _markdown(result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
