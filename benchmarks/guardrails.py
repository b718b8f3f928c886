"""Guardrail evaluations per second, and the executor's overhead per action.

Run: ``.venv/bin/python -m benchmarks.guardrails [--evaluations N] [--actions N]``.
Writes ``benchmarks/results/guardrails.json``.

The executor figure is the whole path of one executed action against the in-memory scripted
cluster: fresh read, metrics, guardrails, five audit records (intent and outcome fsynced
when fsync is on), the write and the verdict.
With a real API server the network round trips dominate; this is what claudescale adds.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from benchmarks.common import write_results
from claudescale.config import parse_settings
from claudescale.core.guardrails import Situation, evaluate
from claudescale.core.limits import Limits
from claudescale.core.values import (
    Action,
    CpuReading,
    History,
    PodState,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness

REF = WorkloadRef("shop", "web")


def evaluations_per_s(count: int) -> float:
    pods = tuple(PodState(f"web-{i}", ready=True, cpu_request_cores=0.25) for i in range(4))
    state = WorkloadState(REF, "uid", 4, "7", ready_replicas=4, pods=pods)
    situation = Situation(
        state, CpuReading(20.0, age_s=3), History(last_change_at=0.0), Limits(), now=10_000.0
    )
    # A scale-down passes every check: the longest path through the guardrails.
    proposal = Proposal(
        REF, Action.SCALE_DOWN, 3, "cpu 20% of requests", Source.RULES, from_replicas=4
    )
    assert evaluate(situation, proposal).allowed
    started = time.perf_counter()
    for _ in range(count):
        evaluate(situation, proposal)
    return count / (time.perf_counter() - started)


async def executor_us_per_action(actions: int, directory: Path, *, durable: bool) -> float:
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    workload = cluster.add(REF, 2)
    workload.cpu_percent = 90.0
    settings = parse_settings(
        {
            "mode": "autonomous",
            "audit": {"rotate_bytes": 1 << 30},
            # A benchmark acts every simulated second; keep frequency out of the risk level.
            "risk": {"frequency_window_s": 0.5},
            "guardrails": {
                "cooldown_up_s": 0,
                "cooldown_down_s": 0,
                "max_actions_per_hour": 10 * actions,
                "scale_down_cpu_below_percent": 100,
            },
        }
    )
    harness = Harness(
        clock,
        cluster,
        settings,
        audit_path=directory / f"audit-{durable}.jsonl",
        deadline_s=math.inf,
        fsync=os.fsync if durable else (lambda fd: None),
    )
    samples: list[float] = []
    async with harness.running(recover=False):
        for n in range(actions):
            replicas = workload.replicas
            up = (replicas < 5 and (n // 3) % 2 == 0) or replicas == 2
            target = replicas + 1 if up else replicas - 1
            action = Action.SCALE_UP if up else Action.SCALE_DOWN
            proposal = Proposal(
                REF, action, target, "benchmark", Source.RULES, from_replicas=replicas
            )
            clock.advance(1)
            started = time.perf_counter()
            verdict = await harness.submit(proposal)
            samples.append(time.perf_counter() - started)
            assert verdict.allowed, verdict.message
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description="Guardrail and executor throughput.")
    parser.add_argument("--evaluations", type=int, default=200_000)
    parser.add_argument("--actions", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print(f"Evaluating the guardrails {args.evaluations} times...", flush=True)
        per_s = evaluations_per_s(args.evaluations)
        print(
            f"Running {args.actions} actions through the executor (fsync off, then on)...",
            flush=True,
        )
        no_fsync = anyio.run(
            partial(executor_us_per_action, args.actions, directory, durable=False)
        )
        with_fsync = anyio.run(
            partial(executor_us_per_action, args.actions, directory, durable=True)
        )
    results: dict[str, Any] = {
        "evaluations": args.evaluations,
        "evaluations_per_s": round(per_s),
        "actions": args.actions,
        "executor_us_per_action_median_no_fsync": round(no_fsync),
        "executor_us_per_action_median_with_fsync": round(with_fsync),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    path = write_results("guardrails", results)
    print(f"Written to {path}.")


if __name__ == "__main__":
    main()
