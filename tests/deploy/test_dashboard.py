"""dashboards/claudescale.json: its structure, and every query run against a real Prometheus.

Structure: unique panel ids, panels inside the 24-column grid and never overlapping, every
target with its own refId and the provisioned datasource (the ``datasource`` variable, whose
default is the uid manifests/monitoring/grafana-datasource.yaml provisions).

Queries: the session's Prometheus scrapes the sandbox (cAdvisor-format CPU counters) and the
``/metrics`` of a claudescale service running in-process against it, with a scripted model
that asks for too many replicas of ``api`` (refused: ``above_max``) while the rules scale
``web`` up under load. Every panel query, annotation and variable query must then answer
with data. A fake cAdvisor with pod-level and pause-container series shows the CPU panel
counts each container once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Action, Proposal, Source
from claudescale.engine.service import Service
from claudescale.testing.prometheus import FakeCadvisor, PrometheusHarness
from claudescale.testing.sandbox import (
    ConnectCluster,
    StartSandbox,
    has_rates_for,
    loop_settings,
    replicas,
    sandbox_config,
    sandbox_cpu_query,
)
from claudescale.testing.waits import wait_until

GRID_COLUMNS = 24
SUBSTITUTIONS = {"$__rate_interval": "1m", "$namespace": "demo", "$deployment": ".*"}
DATA_WAIT_S = 45.0


@pytest.fixture(scope="module")
def dashboard(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "dashboards" / "claudescale.json").read_text())
    return data


def targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target


def runnable(expr: str) -> str:
    """A panel query as Grafana would send it with every namespace of the demo chosen."""
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace('"$1"', ""), f"unsubstituted variable in {expr}"
    return expr


def variable_queries(dashboard: dict[str, Any]) -> list[str]:
    """Grafana's ``label_values(selector, label)`` as PromQL giving the same label values."""
    queries = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["name"]
        queries.append(f"count by ({match.group(2)}) ({match.group(1)})")
    return queries


# -- structure ----------------------------------------------------------------------------


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) == len(dashboard["panels"])


def test_panels_stay_inside_the_grid_and_never_overlap(dashboard: dict[str, Any]) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["y"] >= 0
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = taken.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{panel['title']!r} overlaps {other!r}"


def test_every_target_has_a_refid_and_the_provisioned_datasource(
    dashboard: dict[str, Any], repo: Path
) -> None:
    provisioned = yaml.safe_load(
        yaml.safe_load((repo / "manifests/monitoring/grafana-datasource.yaml").read_text())["data"][
            "datasources.yaml"
        ]
    )["datasources"]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == provisioned[0]["uid"]
    assert variable["query"] == provisioned[0]["type"] == "prometheus"
    expected = {"type": "prometheus", "uid": f"${{{variable['name']}}}"}
    for panel in dashboard["panels"]:
        assert panel["datasource"] == expected, panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert all(ref_ids) and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target["datasource"] == expected for target in panel["targets"])
        assert all(target["expr"].strip() for target in panel["targets"])
    for annotation in dashboard["annotations"]["list"][1:]:
        assert annotation["datasource"] == expected, annotation["name"]


def test_the_dashboard_covers_what_the_issue_asks_for(dashboard: dict[str, Any]) -> None:
    exprs = " ".join(target["expr"] for _, target in targets(dashboard))
    for metric in (
        "claudescale_workload_cpu_utilisation_ratio",
        "claudescale_workload_scale_down_cpu_below_ratio",
        "claudescale_workload_cpu_target_ratio",
        "container_cpu_usage_seconds_total",
        "claudescale_workload_desired_replicas",
        "claudescale_workload_ready_replicas",
        "claudescale_workload_min_replicas",
        "claudescale_workload_max_replicas",
        "claudescale_actions_total",
        "claudescale_decisions_total",
        "claudescale_workload_cooldown_remaining_seconds",
        "claudescale_proposer_latency_seconds_bucket",
        "claudescale_model_consults_total",
        "claudescale_approvals_pending",
        "claudescale_approvals_oldest_pending_age_seconds",
        "claudescale_audit_records_written_total",
        "claudescale_audit_write_failures_total",
        "claudescale_blind_seconds",
        "claudescale_leader",
    ):
        assert metric in exprs, metric
    annotations = [a["expr"] for a in dashboard["annotations"]["list"][1:]]
    assert any("claudescale_actions_total" in expr for expr in annotations)


def test_cadvisor_queries_leave_out_pod_level_and_pause_container_series(
    dashboard: dict[str, Any],
) -> None:
    cadvisor = [t["expr"] for _, t in targets(dashboard) if "container_cpu" in t["expr"]]
    assert cadvisor
    for expr in cadvisor:
        assert 'container!=""' in expr and 'container!="POD"' in expr, expr


# -- against a real Prometheus ------------------------------------------------------------


class GreedyModel:
    """Asks for 99 replicas of demo/api every cycle (always refused) and leaves the rest."""

    name = "greedy-model"

    async def propose(self, situations: Sequence[WorkloadSituation]) -> Sequence[Proposal]:
        return [
            Proposal(
                s.ref,
                Action.SCALE_UP,
                99,
                "The model wants far more replicas than the bounds allow.",
                Source.MODEL_PROVIDER,
                from_replicas=s.replicas,
            )
            for s in situations
            if s.ref.name == "api"
        ]


@pytest.mark.prometheus
@pytest.mark.slow
async def test_every_dashboard_query_returns_data_from_the_sandbox_and_claudescale(
    dashboard: dict[str, Any],
    prometheus: PrometheusHarness,
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    tmp_path: Path,
) -> None:
    workloads = [
        {"namespace": "demo", "name": "web", "replicas": 3},
        {"namespace": "demo", "name": "api", "replicas": 3},
    ]
    sandbox = await start_sandbox(sandbox_config(workloads=workloads), clock=SystemClock())
    wait = partial(anyio.to_thread.run_sync)
    with prometheus.scraping(f"127.0.0.1:{sandbox.port}"):
        await wait(lambda: prometheus.wait_for(sandbox_cpu_query(), has_rates_for(6)))
        cluster = await connect_cluster(sandbox, clock=SystemClock())
        settings = loop_settings(prometheus.url, tmp_path / "audit.jsonl")
        metrics = PrometheusMetrics(settings.prometheus, SystemClock())
        service = Service(
            settings,
            cluster=cluster,
            metrics=metrics,
            clock=SystemClock(),
            proposers=[GreedyModel()],
        )
        async with anyio.create_task_group() as tg:
            ready = anyio.Event()
            tg.start_soon(partial(service.run, ready=ready))
            with anyio.fail_after(10):
                await ready.wait()
            try:
                with prometheus.scraping(f"127.0.0.1:{service.health_port}"):
                    sandbox.cluster.set_load("demo", "web", phase="ramp")
                    await wait_until(lambda: replicas(sandbox) >= 4, 40, "a scale-up of web")
                    # Annotations first: they show only actions of the last minute.
                    for annotation in dashboard["annotations"]["list"][1:]:
                        query = runnable(annotation["expr"])
                        await wait(lambda q=query: prometheus.wait_for(q, timeout_s=DATA_WAIT_S))
                    for title, target in targets(dashboard):
                        query = runnable(target["expr"])
                        result = await wait(
                            lambda q=query: prometheus.wait_for(q, timeout_s=DATA_WAIT_S)
                        )
                        assert result, f"{title}: {query}"
                    for query in map(runnable, variable_queries(dashboard)):
                        found = await wait(lambda q=query: prometheus.query(q))
                        assert found, query
            finally:
                service.stop()
    refused = prometheus.query(
        'sum(claudescale_decisions_total{deployment="api",code="above_max",outcome="blocked"})'
    )
    assert float(refused[0]["value"][1]) >= 1


@pytest.mark.prometheus
async def test_the_cpu_panel_counts_each_container_once(
    dashboard: dict[str, Any], prometheus: PrometheusHarness
) -> None:
    (expr,) = [t["expr"] for _, t in targets(dashboard) if "container_cpu" in t["expr"]]
    per_workload = runnable(expr.split(" and on ")[0]).replace('"demo"', '"cadvisor-check"')
    pod = "shop-7d9f8b6c5d-x2x7q"
    # Large pod-level and pause series: counted even once, they would multiply the result.
    only_the_container = (
        'sum by (namespace) (rate(container_cpu_usage_seconds_total{namespace="cadvisor-check", '
        'container="app"}[1m]))'
    )
    ratio = f"({per_workload}) / on (namespace) group_left {only_the_container}"
    with FakeCadvisor() as cadvisor, prometheus.scraping(cadvisor.address):
        cadvisor.set_rate("cadvisor-check", pod, 0.5, container="app")
        cadvisor.set_rate("cadvisor-check", pod, 3.0, container="")
        cadvisor.set_rate("cadvisor-check", pod, 2.0, container="POD")
        result = await anyio.to_thread.run_sync(
            lambda: prometheus.wait_for(ratio, timeout_s=DATA_WAIT_S)
        )
    assert result[0]["metric"] == {"namespace": "cadvisor-check", "deployment": "shop"}
    assert float(result[0]["value"][1]) == pytest.approx(1.0)
