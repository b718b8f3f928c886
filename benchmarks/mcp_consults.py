"""Model consults on the demo's load phases: change-triggered consulting against one per poll.

Run: ``.venv/bin/python -m benchmarks.mcp_consults``.
Writes ``benchmarks/results/mcp_consults.json`` and prints it; with every scenario run, also
the ``model_consults`` key of ``benchmarks/results.json`` (keeping the others) and its section
of ``benchmarks/RESULTS.md``.

Each scenario plays the demo's story (``claudescale.demo.plan``: demo/web idle, ramp, spike
and drain; demo/api light and steady) twice on a manual clock, deterministically: the
sandbox cluster in this process (pods start after their delay, CPU from the simulation's
counters through ``SimCpu``), reached through the real Kubernetes adapter, with the real
poll loop, proposer chain, executor and guardrails. The model is a stand-in that reads the
prompt the product renders and answers, as JSON, by the system prompt's own "How to decide"
(it holds during cooldowns); its replies go through the product's consult path and strict
parser. Run ``per_poll`` asks it about every workload every cycle; run ``change_triggered``
wraps it in ``claudescale.assistant.economy.ChangeTriggered`` (the rules decide in between).

Measured per run, from the simulation (every simulated second) and the audit log: consults
(model calls) and workload-consults, consults per hour, overload-seconds (demo/web's demand
above its ready pods' capacity at the CPU target), over-request seconds (demand above the
ready pods' requests), replica-seconds, executed actions and refusals by code and source.
The aim (issue 10): at most a tenth of the consults with no more overload. Refusals are
reported beside it: between consults the rules decide, and they propose without reading the
cooldowns (the guardrails refuse, the loop then waits for the cooldown's end), where the
stand-in model holds.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from benchmarks.common import write_results
from benchmarks.service_process import merge_results, write_section
from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.assistant.consult import consult
from claudescale.assistant.economy import ChangeTriggered
from claudescale.audit import iter_records
from claudescale.config import Settings
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Proposal, Source
from claudescale.demo.plan import LOADED, NAMESPACE, DemoPlan
from claudescale.ports import AuditSink, Proposer
from claudescale.sim import Sandbox, SimCluster, SimOptions, write_kubeconfig
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import Harness
from claudescale.testing.sandbox import SimCpu

REQUEST_CORES = 0.25
"""Each sandbox pod's CPU request (the sim's default)."""
SCENARIOS = {
    # The story at the product's real timings (cooldowns 90 s / 180 s, pods ready after 5 s)
    # and its default 15 s poll: how a deployed pod would consult.
    "product_timings": {"duration_s": 1800.0, "poll_s": 15.0},
    # The demo as `claudescale demo` ships it: 300 s, timings ×1/6, a 1 s poll.
    "demo_as_shipped": {"duration_s": 300.0, "poll_s": 1.0},
}
RUN_DEADLINE_S = 900.0
AIM_RATIO = 0.1


def reply_to(prompt: str) -> str:
    """What the stand-in model answers: the system prompt's "How to decide", literally."""
    body = json.loads(prompt.split("\n", 1)[1])
    target, tolerance = body["policy"]["target_cpu_percent"], body["policy"]["tolerance"]
    decisions = []
    for w in body["workloads"]:
        replicas, cpu = w["replicas"], w["cpu_percent"]
        action, to = "hold", replicas
        usable = (
            w["cpu_reading"] == "ok"
            and cpu is not None
            and w["cpu_missing_pods"] == 0
            and (w["cpu_age_s"] or 0.0) <= w["metric_max_age_s"]
            and (w["cpu_percent_ceiling"] is None or cpu <= w["cpu_percent_ceiling"])
            and not (w["paused"] or w["other_autoscaler"] or w["external_controller"])
            and w["annotations_valid"]
        )
        if usable and cpu > target * (1 + tolerance) and w["cooldown_up_remaining_s"] == 0:
            to = min(w["max_replicas"], math.ceil(replicas * cpu / target))
        elif (
            usable
            and cpu < w["scale_down_cpu_below_percent"]
            and w["cooldown_down_remaining_s"] == 0
        ):
            to = max(w["min_replicas"], replicas - w["max_step_down"])
        if to != replicas:
            action = "scale_up" if to > replicas else "scale_down"
        decisions.append(
            {
                "namespace": w["namespace"],
                "name": w["name"],
                "action": action,
                "target_replicas": to,
                "reason": f"CPU {cpu}% against a {target}% target at {replicas} replicas.",
            }
        )
    return json.dumps({"decisions": decisions})


class StandInModel:
    """A model proposer answering through the product's consult path; counts its consults."""

    name = Source.MODEL_PROVIDER.value

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.audit: AuditSink | None = None
        self.consults = 0
        self.workloads_asked = 0

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        self.consults += 1
        self.workloads_asked += len(situations)
        return await consult(
            self._ask,
            situations,
            settings=self._settings,
            source=Source.MODEL_PROVIDER,
            audit=self.audit,
        )

    async def _ask(self, prompt: str) -> str:
        await anyio.lowlevel.checkpoint()
        return reply_to(prompt)


def _ready_pods(sim: SimCluster, name: str) -> int:
    pods = sim.pods.pods.get((NAMESPACE, name), {})
    return sum(1 for p in pods.values() if p.ready and not p.terminating)


async def play(kind: str, duration_s: float, poll_s: float, workdir: Path) -> dict[str, Any]:
    """One run of the story; ``kind`` is ``per_poll`` or ``change_triggered``."""
    plan = DemoPlan.make(duration_s)
    clock = ManualClock()
    sim = SimCluster(plan.sim_config(), clock)
    async with Sandbox(sim, SimOptions()) as sandbox:
        settings = plan.settings(
            prometheus_url="http://127.0.0.1:9",  # unused: CPU comes from the simulation
            kubeconfig=write_kubeconfig(workdir / "kubeconfig", sandbox.url),
            audit_path=workdir / "audit.jsonl",
        )
        loop = settings.loop.model_copy(update={"interval_s": poll_s})
        settings = settings.model_copy(update={"loop": loop})
        cluster = await KubernetesCluster.connect(settings.cluster, clock)
        harness = Harness(clock, cluster, settings, metrics=SimCpu(sim), deadline_s=RUN_DEADLINE_S)
        model = StandInModel(settings)
        proposer: Proposer = model
        if kind == "change_triggered":
            proposer = ChangeTriggered(model, settings, clock)
        target = settings.loop.target_cpu_percent
        overload_s = over_request_s = replica_s = 0.0
        try:
            async with harness.running():
                model.audit = harness.audit
                controller = harness.controller([proposer])
                phases = list(plan.schedule())
                elapsed_s = 0.0
                while elapsed_s < plan.duration_s:
                    while phases and phases[0][0] <= elapsed_s:
                        sim.set_load(NAMESPACE, LOADED, phase=phases.pop(0)[1])
                    await controller.cycle()
                    for _ in range(round(poll_s)):  # the world, every simulated second
                        sim.advance(1.0)
                        elapsed_s += 1.0
                        demand = sim.demand_cores(NAMESPACE, LOADED)
                        requested = _ready_pods(sim, LOADED) * REQUEST_CORES
                        overload_s += demand > requested * target / 100.0
                        over_request_s += demand > requested
                        replica_s += int(sim.deployment(NAMESPACE, LOADED)["spec"]["replicas"])
        finally:
            await cluster.aclose()
    verdicts = [r for r in iter_records(harness.audit_path) if r["kind"] == "verdict"]
    executed = [r for r in verdicts if r["code"] == "ok"]
    refused = [r for r in verdicts if r["code"] not in ("ok", "hold")]
    refusals = Counter(r["code"] for r in refused)
    return {
        "consults": model.consults,
        "workload_consults": model.workloads_asked,
        "consults_per_hour": round(model.consults * 3600.0 / duration_s, 1),
        "overload_seconds": overload_s,
        "over_request_seconds": over_request_s,
        "replica_seconds_web": replica_s,
        "actions": len(executed),
        "actions_by_source": dict(sorted(Counter(r["source"] for r in executed).items())),
        "refusals": len(refused),
        "refusals_by_code": dict(sorted(refusals.items())),
        "refusals_by_source": dict(sorted(Counter(r["source"] for r in refused).items())),
    }


async def scenario(duration_s: float, poll_s: float) -> dict[str, Any]:
    runs = {}
    for kind in ("per_poll", "change_triggered"):
        with tempfile.TemporaryDirectory(prefix=f"claudescale-consults-{kind}-") as directory:
            runs[kind] = await play(kind, duration_s, poll_s, Path(directory))
    every, changed = runs["per_poll"], runs["change_triggered"]
    ratio = changed["consults"] / every["consults"] if every["consults"] else None
    return {
        "duration_s": duration_s,
        "poll_s": poll_s,
        "cycles": round(duration_s / poll_s),
        **runs,
        "consult_ratio": None if ratio is None else round(ratio, 3),
        "overload_seconds_added": changed["overload_seconds"] - every["overload_seconds"],
        "refusals_added": changed["refusals"] - every["refusals"],
        # The aim: at most a tenth of the consults, no more overload.
        "aim_met": ratio is not None
        and ratio <= AIM_RATIO
        and changed["overload_seconds"] <= every["overload_seconds"],
    }


async def main_async(names: Sequence[str]) -> dict[str, Any]:
    return {name: await scenario(**SCENARIOS[name]) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)
    results = anyio.run(main_async, names)
    write_results("mcp_consults", {"scenarios": results})
    if set(names) == set(SCENARIOS):
        merge_results({"model_consults": summary(results)})
        write_section("benchmarks.mcp_consults", section(results))


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The ``model_consults`` of results.json: consults an hour each way, per scenario."""
    return {
        name: {
            "poll_s": run["poll_s"],
            "per_poll_per_hour": run["per_poll"]["consults_per_hour"],
            "change_triggered_per_hour": run["change_triggered"]["consults_per_hour"],
            "consult_ratio": run["consult_ratio"],
            "overload_seconds_per_poll": run["per_poll"]["overload_seconds"],
            "overload_seconds_change_triggered": run["change_triggered"]["overload_seconds"],
            "aim_met": run["aim_met"],
        }
        for name, run in results.items()
    }


def section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Model consults: change-triggered against one per poll",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d}. Written by `python -m benchmarks.mcp_consults` "
        "(part of `make bench`).",
        "",
        "The demo's story (demo/web idle, ramp, spike and drain; demo/api steady) on a manual "
        "clock, through the real Kubernetes adapter against the sandbox, the real poll loop, "
        "executor and guardrails. The model is a stand-in answering by the system prompt's "
        "own rules through the product's consult path. `per_poll` asks it every cycle; "
        "`change_triggered` (`claudescale.assistant.economy`) asks only when a workload's "
        "situation changed, and the rules decide in between. Overload-seconds: demo/web's "
        "demand above its ready pods' capacity at the CPU target. The aim: at most a tenth "
        "of the consults with no more overload.",
        "",
        "| scenario | poll s | consults / h, per poll | consults / h, change-triggered "
        "| ratio | overload s, per poll | overload s, change-triggered | aim |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, run in summary(results).items():
        lines.append(
            f"| {name} | {run['poll_s']:g} | {run['per_poll_per_hour']:g} "
            f"| {run['change_triggered_per_hour']:g} | {run['consult_ratio']} "
            f"| {run['overload_seconds_per_poll']:g} "
            f"| {run['overload_seconds_change_triggered']:g} "
            f"| {'met' if run['aim_met'] else 'not met'} |"
        )
    lines.append("")
    return lines


if __name__ == "__main__":
    main()
