"""The fault test of recovery: the whole service over the sandbox and a real Prometheus, which
is stopped for 60 s (the outage an operator reported) and started again on the same port and
data directory. Sight is restored within one poll interval of Prometheus being ready again,
and an approval granted during the outage is carried out afterwards, without a second one.

It takes the outage's length in real time (plus about 20 s), hence ``slow``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import iter_records, verify
from claudescale.config import state_dir_for
from claudescale.config.groups import Mode
from claudescale.control.approval_values import Approval, Status
from claudescale.control.stores import ControlStores
from claudescale.core.situation import WorkloadSituation
from claudescale.engine.loop_memory import Health
from claudescale.sim.prometheus import PrometheusProcess
from claudescale.testing.sandbox import (
    ConnectCluster,
    StartSandbox,
    loop_settings,
    replicas,
    running_service,
    sandbox_config,
    wait_until,
)

OUTAGE_S = 60.0
"""How long Prometheus stays away: the issue's 60 s."""
INTERVAL_S = 3.0
"""The service's poll interval here. Its blind back-off doubles from it up to 120 s, so that
without probes the full cycles after blindness begins come at 3, 9, 21, 45 and 93 s: the
outage ends well between two of them."""
SIGHT_SLACK_S = 1.5
"""Real seconds a probe and a full cycle may add to the interval on a busy machine."""


def has_reading(situations: Sequence[WorkloadSituation]) -> bool:
    return bool(situations) and all(s.reading.percent is not None for s in situations)


def pending_for_web(stores: ControlStores) -> list[Approval]:
    return [
        a
        for a in stores.approvals.list()
        if a.workload == "demo/web" and a.status is Status.PENDING and a.to_replicas > 3
    ]


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [OUTAGE_S])
async def test_after_a_60_s_prometheus_outage_sight_returns_within_one_interval_and_an_approval_granted_meanwhile_runs(  # noqa: E501
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    tmp_path: Path,
    outage_s: float,
) -> None:
    sandbox = await start_sandbox(sandbox_config(), clock=SystemClock())
    prometheus = PrometheusProcess(scrape_interval_s=1.0, workdir=tmp_path / "prometheus")
    prometheus.targets.add(f"127.0.0.1:{sandbox.port}")
    await anyio.to_thread.run_sync(prometheus.start)
    audit_path = tmp_path / "audit.jsonl"
    try:
        settings = loop_settings(
            prometheus.url,
            audit_path,
            loop={"interval_s": INTERVAL_S, "blind_backoff_max_s": 120.0},
        ).model_copy(update={"mode": Mode.SUPERVISED})
        stores = ControlStores.open(state_dir_for(settings), settings, SystemClock())
        metrics = PrometheusMetrics(settings.prometheus, SystemClock())
        cluster = await connect_cluster(sandbox, clock=SystemClock())
        async with running_service(settings, cluster, metrics) as service:
            status = service.controller.status
            await wait_until(lambda: has_reading(status().situations), 30, "a first CPU reading")
            sandbox.cluster.set_load("demo", "web", cores=1.0)
            await wait_until(lambda: bool(pending_for_web(stores)), 30, "a scale-up to approve")

            await anyio.to_thread.run_sync(prometheus.halt)
            await wait_until(lambda: status().health is Health.BLIND, 10, "blindness")
            (approval,) = pending_for_web(stores)[-1:]
            assert stores.approvals.approve(approval.id, actor="cli:tester").ok
            # The outage itself is what is under test: it lasts real seconds.
            await anyio.sleep(outage_s)
            assert status().health is Health.BLIND and replicas(sandbox) == 3

            await anyio.to_thread.run_sync(prometheus.resume)
            ready_at = time.monotonic()
            await wait_until(
                lambda: status().health is Health.SEEING,
                INTERVAL_S + SIGHT_SLACK_S,
                "sight restored within one poll interval of Prometheus being ready",
                poll_s=0.05,
            )
            sight_after_s = time.monotonic() - ready_at
            await wait_until(
                lambda: replicas(sandbox) == approval.to_replicas,
                30,
                f"the scale-up approved during the outage ({approval.change})",
            )
    finally:
        await anyio.to_thread.run_sync(prometheus.stop)
    assert sight_after_s <= INTERVAL_S + SIGHT_SLACK_S
    used = stores.approvals.get(approval.id)
    assert used is not None and used.status is Status.USED
    records = list(iter_records(audit_path))
    granted = [r for r in records if r["kind"] == "approval_granted"]
    assert [r["approval_id"] for r in granted] == [approval.id]  # no second approval
    (intent,) = [r for r in records if r["kind"] == "intent"]
    assert intent["approval_id"] == approval.id
    kinds = [r["kind"] for r in records]
    assert kinds.index("blind") < kinds.index("sight_restored") < kinds.index("intent")
    assert verify(audit_path).ok
