"""Faults on the way to a change: Prometheus going away, the API server answering 500 and 409,
a Deployment deleted mid-action, pods that never become ready.

The API faults run the loop one cycle at a time against the sandbox over HTTP (the real
Kubernetes adapter) on a manual clock, with CPU readings the test sets; the Prometheus outage
runs a Prometheus of its own, stops it mid-run and starts it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import iter_records, verify
from claudescale.config import Settings, parse_settings
from claudescale.core.situation import WorkloadSituation
from claudescale.core.utilisation import PodSample, measure
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.loop_memory import Health
from claudescale.engine.poll_loop import Controller
from claudescale.ports import Clock, Cluster
from claudescale.sim import Sandbox
from claudescale.sim.prometheus import PrometheusProcess
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import Harness
from claudescale.testing.sandbox import (
    ConnectCluster,
    StartSandbox,
    loop_settings,
    replicas,
    running_service,
    sandbox_config,
    wait_until,
)

WEB = WorkloadRef("demo", "web")


class SetCpu:
    """A MetricsSource that reports ``percent`` for every ready pod, sampled just now."""

    def __init__(self, clock: Clock, percent: float) -> None:
        self.clock = clock
        self.percent = percent

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        await anyio.lowlevel.checkpoint()
        now = self.clock.wall()
        return {
            state.ref: measure(
                state,
                {
                    pod.name: PodSample((pod.cpu_request_cores or 0.0) * self.percent / 100, now)
                    for pod in state.ready_pods
                },
                now_wall_s=now,
            )
            for state in workloads
        }


class DeletedAfterRead:
    """The real adapter, except that the Deployment is deleted right after each fresh read:
    the executor's write then meets a Deployment that is gone."""

    def __init__(self, inner: Cluster, sandbox: Sandbox) -> None:
        self.inner, self.sandbox = inner, sandbox

    async def list_workloads(self) -> Sequence[WorkloadState]:
        return await self.inner.list_workloads()

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        state = await self.inner.read_workload(ref)
        self.sandbox.cluster.delete_deployment(ref.namespace, ref.name)
        return state

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        return await self.inner.scale(ref, replicas, resource_version)


@dataclass
class Stepped:
    sandbox: Sandbox
    cpu: SetCpu
    controller: Controller
    harness: Harness[ManualClock, Cluster]

    def advance(self, seconds: float) -> None:
        self.sandbox.cluster.advance(seconds)


@asynccontextmanager
async def stepped_loop(
    sandbox: Sandbox,
    cluster: Cluster,
    clock: ManualClock,
    tmp_path: Path,
    *,
    cpu_percent: float,
    settings: Settings | None = None,
) -> AsyncIterator[Stepped]:
    settings = settings or parse_settings(
        {"mode": "autonomous", "cluster": {"namespaces": ["demo"]}, "loop": {"interval_s": 5}}
    )
    metrics = SetCpu(clock, cpu_percent)
    audit_path = tmp_path / "audit.jsonl"
    harness = Harness(clock, cluster, settings, audit_path=audit_path, metrics=metrics)
    async with harness.running():
        yield Stepped(sandbox, metrics, harness.controller(), harness)
    assert verify(audit_path).ok


@pytest.mark.parametrize(("status", "code"), [(500, "write_failed"), (409, "conflict")])
async def test_a_failed_write_is_refused_and_not_retried_until_a_fresh_proposal(
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    sim_clock: ManualClock,
    tmp_path: Path,
    status: int,
    code: str,
) -> None:
    sandbox = await start_sandbox(sandbox_config())
    cluster = await connect_cluster(sandbox, clock=sim_clock)
    async with stepped_loop(sandbox, cluster, sim_clock, tmp_path, cpu_percent=90.0) as loop:
        sandbox.cluster.fail_next_write("demo", "web", status)
        first = await loop.controller.cycle()
        retried = []
        for _ in range(11):
            loop.advance(5.0)
            retried.append(len((await loop.controller.cycle()).submitted))
        replicas_after_refusal = replicas(sandbox)
        loop.advance(5.0)
        again = await loop.controller.cycle()
    assert len(first.submitted) == 1
    outcomes = [(r["code"], r["from"], r["to"]) for r in loop.harness.records("outcome")]
    assert outcomes[0] == (code, 3, 5)
    # Nothing for the next 55 s (loop.refused_retry_s is 60 s), then one fresh proposal.
    assert retried == [0] * 11
    assert replicas_after_refusal == 3
    assert len(again.submitted) == 1 and replicas(sandbox) == 5
    assert [r["code"] for r in loop.harness.records("outcome")] == [code, "ok"]


async def test_a_deployment_deleted_mid_action_is_target_gone_and_the_loop_carries_on(
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    sim_clock: ManualClock,
    tmp_path: Path,
) -> None:
    sandbox = await start_sandbox(sandbox_config())
    cluster = DeletedAfterRead(await connect_cluster(sandbox, clock=sim_clock), sandbox)
    async with stepped_loop(sandbox, cluster, sim_clock, tmp_path, cpu_percent=90.0) as loop:
        await loop.controller.cycle()
        loop.advance(5.0)
        after = await loop.controller.cycle()
    (outcome,) = loop.harness.records("outcome")
    assert (outcome["code"], outcome["from"], outcome["to"]) == ("target_gone", 3, 5)
    assert [r["code"] for r in loop.harness.records("verdict")] == ["target_gone"]
    assert after.health is Health.SEEING and after.workloads == 0


async def test_pods_that_never_become_ready_stop_scale_downs_and_further_scale_ups(
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    sim_clock: ManualClock,
    tmp_path: Path,
) -> None:
    """New pods never become ready: counted at 0% they hold scale-ups back (no runaway to
    the maximum), and every scale-down is refused (pods not ready, which the Deployment's
    status reports as a rollout in progress), once a minute."""
    sandbox = await start_sandbox(sandbox_config(startup_delay_s=1e9))
    cluster = await connect_cluster(sandbox, clock=sim_clock)
    settings = parse_settings(
        {
            "mode": "autonomous",
            "guardrails": {"max_replicas": 10},
            "cluster": {"namespaces": ["demo"]},
            # No stabilisation window: this is about the executor refusing scale-downs.
            "loop": {"interval_s": 5, "refused_retry_s": 60, "scale_down_stabilisation_s": 0},
        }
    )
    async with stepped_loop(
        sandbox, cluster, sim_clock, tmp_path, cpu_percent=90.0, settings=settings
    ) as loop:
        await loop.controller.cycle()
        assert replicas(sandbox) == 5
        for _ in range(40):  # 200 s of 90% on the three ready pods, past the 90 s cooldown
            loop.advance(5.0)
            await loop.controller.cycle()
        held = loop.controller.status().situations[0].last_decision
        loop.cpu.percent = 10.0
        submitted = []
        for _ in range(30):  # 150 s of 10%
            loop.advance(5.0)
            submitted.append(len((await loop.controller.cycle()).submitted))
    assert replicas(sandbox) == 5
    assert [(r["from"], r["to"]) for r in loop.harness.records("intent")] == [(3, 5)]
    assert held is not None
    assert "2 pods that are not ready yet at 0%" in held.message
    refusals = [r["code"] for r in loop.harness.records("verdict") if r["code"] != "ok"]
    # The sandbox's Deployment status, like a real one, shows a rollout until all are ready.
    assert len(refusals) == 3
    assert set(refusals) <= {"pods_not_ready", "rollout_in_progress"}
    assert sum(submitted) == 3


@pytest.mark.prometheus
@pytest.mark.slow
async def test_no_change_while_prometheus_is_down_and_the_loop_recovers_when_it_returns(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster, tmp_path: Path
) -> None:
    sandbox = await start_sandbox(sandbox_config(), clock=SystemClock())
    address = f"127.0.0.1:{sandbox.port}"
    workdir = tmp_path / "prometheus"
    first = PrometheusProcess(scrape_interval_s=1.0, workdir=workdir)
    first.targets.add(address)
    await anyio.to_thread.run_sync(first.start)
    second: PrometheusProcess | None = None
    try:
        audit_path = tmp_path / "audit.jsonl"
        settings = loop_settings(first.url, audit_path, loop={"blind_backoff_max_s": 1.0})
        metrics = Repointable(PrometheusMetrics(settings.prometheus, SystemClock()))
        cluster = await connect_cluster(sandbox, clock=SystemClock())
        async with running_service(settings, cluster, metrics) as service:
            status = service.controller.status
            await wait_until(lambda: has_reading(status().situations), 30, "a first CPU reading")
            await anyio.to_thread.run_sync(first.stop)
            sandbox.cluster.set_load("demo", "web", cores=1.0)
            await wait_until(lambda: status().health is Health.BLIND, 10, "blindness")
            blind_at = status().cycles
            await wait_until(lambda: status().cycles >= blind_at + 4, 10, "blind cycles")
            assert replicas(sandbox) == 3
            # Same data directory, new port: the targets file is written afresh.
            second = PrometheusProcess(scrape_interval_s=1.0, workdir=workdir)
            second.targets.add(address)
            await anyio.to_thread.run_sync(second.start)
            metrics.inner = PrometheusMetrics(
                settings.prometheus.model_copy(update={"url": second.url}), SystemClock()
            )
            await wait_until(lambda: replicas(sandbox) == 5, 30, "the scale-up after recovery")
    finally:
        await anyio.to_thread.run_sync(first.stop)
        if second is not None:
            await anyio.to_thread.run_sync(second.stop)
    kinds = [(r["seq"], r["kind"]) for r in iter_records(audit_path)]
    (blind_seq,) = [seq for seq, kind in kinds if kind == "blind"]
    (seen_seq,) = [seq for seq, kind in kinds if kind == "sight_restored"]
    intents = [seq for seq, kind in kinds if kind == "intent"]
    assert blind_seq < seen_seq
    assert intents and all(seq > seen_seq for seq in intents)
    assert verify(audit_path).ok


class Repointable:
    """A MetricsSource whose Prometheus can be swapped (a restarted one has a new port)."""

    def __init__(self, inner: PrometheusMetrics) -> None:
        self.inner = inner

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        return await self.inner.cpu(workloads)


def has_reading(situations: Sequence[WorkloadSituation]) -> bool:
    return bool(situations) and all(s.reading.percent is not None for s in situations)
