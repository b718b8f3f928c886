"""The executor under a burst: one proposal on each of many workloads at the same moment.

Run: ``.venv/bin/python -m benchmarks.executor_burst [--workloads N] [--round-trip-ms MS]``.
Writes ``benchmarks/results/executor_burst.json``, the ``executor_burst`` key of
``benchmarks/results.json`` (keeping the others) and its section of ``benchmarks/RESULTS.md``.

An event that touches many workloads at once (a traffic shift, a node drain) leaves a
proposal on each. The real executor, with its audit log fsynced, carries them out against
the in-memory cluster, where every API call (the fresh read before the decision and the
scale write) first waits a fixed round trip, as against a real API server. Measured with
``cluster.max_concurrent_actions`` at 1 (one action at a time, as the executor worked before)
and at the product's default: proposals carried out per second, and the seconds until the
last verdict. Each workload gets one low-risk change (4 → 5 replicas) in autonomous mode with
the product's other defaults, so every proposal passes the guardrails and is written.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from benchmarks.common import machine, write_results
from benchmarks.service_process import merge_results, write_section
from claudescale.config import parse_settings
from claudescale.config.groups import ClusterSettings
from claudescale.core.values import Action, Outcome, Proposal, Source, WorkloadRef, WorkloadState
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness

DEFAULT_SLOTS = ClusterSettings().max_concurrent_actions


class RoundTripCluster(ScriptedCluster):
    """The in-memory cluster, with one network round trip before every read and write."""

    round_trip_s = 0.0

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        await anyio.sleep(self.round_trip_s)
        return await super().read_workload(ref)

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        await anyio.sleep(self.round_trip_s)
        return await super().scale(ref, replicas, resource_version)


async def burst(workloads: int, round_trip_s: float, slots: int, directory: Path) -> dict[str, Any]:
    """Submit one scale-up on each of ``workloads`` workloads at once; time the verdicts."""
    refs = [WorkloadRef("burst", f"web-{i:05d}") for i in range(workloads)]
    clock = ManualClock()
    cluster = RoundTripCluster(clock)
    cluster.round_trip_s = round_trip_s
    for ref in refs:
        cluster.add(ref, 4).cpu_percent = 90.0
    settings = parse_settings(
        {
            "mode": "autonomous",
            "audit": {"path": str(directory / f"audit-{slots}.jsonl")},
            "cluster": {"max_concurrent_actions": slots},
        }
    )
    harness = Harness(clock, cluster, settings, deadline_s=600.0)
    outcomes: list[Outcome | None] = []
    async with harness.running(recover=False) as executor:

        async def submit(ref: WorkloadRef) -> None:
            proposal = Proposal(
                ref, Action.SCALE_UP, 5, "a burst of load", Source.RULES, from_replicas=4
            )
            outcomes.append((await executor.submit(proposal)).outcome)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for ref in refs:
                tg.start_soon(submit, ref)
        took_s = time.perf_counter() - started
    executed = sum(outcome is Outcome.EXECUTED for outcome in outcomes)
    if executed != workloads:
        raise SystemExit(f"Only {executed} of {workloads} proposals were carried out.")
    return {
        "max_concurrent_actions": slots,
        "proposals": workloads,
        "seconds_to_last_verdict": round(took_s, 3),
        "proposals_per_s": round(workloads / took_s, 1),
    }


def section(results: dict[str, Any]) -> list[str]:
    runs = results["runs"]
    one, most = runs[0], runs[-1]
    lines = [
        "## The executor under a burst of proposals",
        "",
        f"Machine: {results['machine']}. Date: {results['date']}. Written by "
        "`python -m benchmarks.executor_burst` (part of `make bench`).",
        "",
        f"One scale-up proposal on each of {results['workloads']} workloads at the same moment, "
        "carried out by the real executor (fresh read, guardrails, risk, audit records with "
        "fsync, the write) against the in-memory cluster, where every read and write first "
        f"waits a {results['round_trip_ms']:g} ms round trip, as against an API server. "
        "Still one action in flight per workload, and the executor is the only writer.",
        "",
        "| `cluster.max_concurrent_actions` | seconds to the last verdict | proposals / s |",
        "| ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run['max_concurrent_actions']} | {run['seconds_to_last_verdict']} "
            f"| {run['proposals_per_s']} |"
        )
    speedup = most["proposals_per_s"] / one["proposals_per_s"]
    lines += [
        "",
        f"At the default of {most['max_concurrent_actions']} the burst clears {speedup:.1f}× "
        "faster than one action at a time; what remains per action is the fsynced audit "
        "records and the executor's own work.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, default=300, help="Proposals in the burst.")
    parser.add_argument(
        "--round-trip-ms", type=float, default=5.0, help="Wait before every API read and write."
    )
    args = parser.parse_args()
    if args.workloads < 1 or args.round_trip_ms < 0:
        parser.error("--workloads must be at least 1 and --round-trip-ms not negative.")
    runs = []
    with tempfile.TemporaryDirectory(prefix="claudescale-burst-") as tmp:
        for slots in (1, DEFAULT_SLOTS):
            print(f"{args.workloads} proposals, {slots} at a time...", flush=True)
            round_trip_s = args.round_trip_ms / 1000
            runs.append(anyio.run(partial(burst, args.workloads, round_trip_s, slots, Path(tmp))))
    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "workloads": args.workloads,
        "round_trip_ms": args.round_trip_ms,
        "runs": runs,
    }
    write_results("executor_burst", results)
    merge_results({"executor_burst": results})
    write_section("benchmarks.executor_burst", section(results))


if __name__ == "__main__":
    main()
