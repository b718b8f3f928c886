"""claudescale on the simulated timeline: the real poll loop, rules, executor and guardrails.

Layer: benchmark. Built with ``claudescale.testing.harness.Harness`` over a manual clock and
the in-memory ``ScriptedCluster`` (as replay is). Before each poll cycle the scripted
workload's pods are set from the simulated world (ready, terminating, and each pod's
``rate()`` as a percentage of its request, or no sample when the rate has fewer than two
scrapes), so the loop and the executor read what Prometheus would answer. Then
``Controller.cycle()`` runs as in production: the rules proposer (or the scripted model,
then the rules for what it leaves), the trend, the executor's fresh read, the guardrails,
the audit log, the write. Whatever replicas the cluster then holds, the world follows.

Settings are the product's defaults in autonomous mode, with one change: no change is
escalated to a human for its size or frequency (the risk thresholds are set out of reach),
because nobody can approve in a simulation. ``would_need_a_human`` counts the executed
changes the default risk settings would have held for approval instead.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.hpa.measures import Ledger
from benchmarks.hpa.model import ScriptedModel
from benchmarks.hpa.sim import WARMUP_S, simulate, start_replicas
from benchmarks.hpa.traces import Trace
from benchmarks.hpa.world import Pipeline, World, percent_of_request
from claudescale.config import Settings, parse_settings
from claudescale.core.limits import Limits
from claudescale.core.risk import Change, RiskLevel, RiskSettings, assess
from claudescale.core.values import WorkloadRef
from claudescale.ports import Proposer
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster, ScriptedPod, ScriptedWorkload
from claudescale.testing.harness import Harness

REF = WorkloadRef("shop", "web")
CLOCK_ORIGIN_S = 10_000.0
RUN_DEADLINE_S = 900.0
"""Real seconds one trace may take before the harness gives up."""
UNREACHABLE = 1_000_000
NO_HUMAN_RISK: dict[str, Any] = {
    "medium_change_percent": UNREACHABLE,
    "high_change_percent": UNREACHABLE,
    "medium_change_replicas": UNREACHABLE,
    "high_change_replicas": UNREACHABLE,
    "medium_recent_actions": UNREACHABLE,
    "high_recent_actions": UNREACHABLE,
}


def bench_settings(audit_path: Path, pipeline: Pipeline) -> Settings:
    """The product's defaults, autonomous, with the simulated metrics pipeline's timing."""
    return parse_settings(
        {
            "mode": "autonomous",
            "audit": {"path": str(audit_path)},
            "risk": NO_HUMAN_RISK,
            "prometheus": {
                "scrape_interval_s": pipeline.scrape_interval_s,
                "rate_window": f"{math.ceil(pipeline.rate_window_s)}s",
            },
        }
    )


def sync_pods(workload: ScriptedWorkload, world: World, now_s: float) -> None:
    """What the in-memory cluster and its metrics answer: the world's pods as they are."""
    pods: list[ScriptedPod] = []
    for pod in world.pods:
        rate = world.rate(pod, now_s)
        pods.append(
            ScriptedPod(
                ready=pod.ready(now_s),
                terminating=pod.terminating_since_s is not None,
                cpu_percent=None if rate is None else percent_of_request(rate.cores),
            )
        )
    workload.pods = pods
    workload.cpu_age_s = max(0.0, now_s - world.last_scrape_s)


def fresh_audit_path(directory: Path) -> Path:
    """``directory/audit.jsonl``, with any log of an earlier run there removed."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("audit.jsonl*"):
        if stale.is_file():
            stale.unlink()
    return directory / "audit.jsonl"


async def run_claudescale(
    trace: Trace,
    pipeline: Pipeline,
    directory: Path,
    *,
    model: bool,
    duration_s: float | None = None,
) -> tuple[Ledger, dict[str, Any]]:
    """One trace through claudescale; returns the ledger and extras (consults, risk)."""
    audit_path = fresh_audit_path(directory)
    settings = bench_settings(audit_path, pipeline)
    clock = ManualClock(start=CLOCK_ORIGIN_S - WARMUP_S)
    cluster = ScriptedCluster(clock)
    target = settings.loop.target_cpu_percent
    workload = cluster.add(REF, start_replicas(trace, target))
    harness = Harness(clock, cluster, settings, deadline_s=RUN_DEADLINE_S)
    scripted = ScriptedModel(target)
    proposers: list[Proposer] = [scripted] if model else []
    async with harness.running(recover=False):
        controller = harness.controller(proposers)

        async def act(world: World, now_s: float) -> int:
            clock.advance(max(0.0, CLOCK_ORIGIN_S + now_s - clock.now()))
            sync_pods(workload, world, now_s)
            await controller.cycle()
            return workload.replicas

        ledger = await simulate(
            trace,
            pipeline,
            target_percent=target,
            period_s=settings.loop.interval_s,
            act=act,
            duration_s=duration_s,
        )
    verdicts = Counter(str(r["code"]) for r in harness.records("verdict"))
    for code, count in verdicts.items():
        if code != "ok":
            ledger.refusals[code] += count
    seconds = trace.duration_s if duration_s is None else min(duration_s, trace.duration_s)
    extras = {
        "would_need_a_human": would_need_a_human(ledger),
        "model_consults_per_hour": round(scripted.consults * 3600 / seconds, 1) if model else None,
    }
    return ledger, extras


def would_need_a_human(ledger: Ledger) -> int:
    """Executed changes that the default risk settings would have sent for approval."""
    risk, limits = RiskSettings(), Limits()
    count = 0
    for index, write in enumerate(ledger.writes):
        recent = sum(
            1
            for earlier in ledger.writes[:index]
            if write.t_s - earlier.t_s < risk.frequency_window_s
        )
        level = assess(Change(REF, write.from_replicas, write.to_replicas), risk, limits, recent)
        if level.level.rank >= RiskLevel.HIGH.rank:
            count += 1
    return count
