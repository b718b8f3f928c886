"""``/metrics`` of a running service: names, labels and values after real decisions.

The service runs in-process on the scripted cluster with the system clock and a 0.2 s loop;
every wait is bounded. The exposition is parsed with prometheus-client's own parser and
linted with Debian's ``promtool check metrics``.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from claudescale.adapters.system_clock import SystemClock
from claudescale.config import Settings, parse_settings
from claudescale.core.values import Action, Proposal, Source, WorkloadRef
from claudescale.engine.service import Service
from claudescale.engine.telemetry import Telemetry
from claudescale.engine.telemetry_taps import AuditTap
from claudescale.errors import AuditError, MetricsUnavailable
from claudescale.ports import Proposer
from claudescale.testing.cluster import ScriptedCluster

WEB = WorkloadRef("shop", "web")
PROMTOOL = Path("/usr/bin/promtool")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def settings_for(tmp_path: Path, mode: str = "autonomous", **loop: Any) -> Settings:
    return parse_settings(
        {
            "mode": mode,
            "audit": {"path": str(tmp_path / "audit.jsonl")},
            "loop": {"interval_s": 0.2, **loop},
            "service": {"port": 0, "shutdown_grace_s": 5.0},
        }
    )


@asynccontextmanager
async def running(
    settings: Settings, cluster: ScriptedCluster, proposers: Sequence[Proposer] = ()
) -> AsyncIterator[Service]:
    service = Service(
        settings, cluster=cluster, metrics=cluster, clock=SystemClock(), proposers=proposers
    )
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(partial(service.run, ready=ready))
        with anyio.fail_after(5):
            await ready.wait()
        try:
            yield service
        finally:
            service.stop()


async def scrape(service: Service) -> str:
    url = f"http://{service.settings.service.host}:{service.health_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await answer.text()


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def scrape_until(
    service: Service, wanted: Callable[[Samples], bool], what: str, timeout_s: float = 10.0
) -> Samples:
    """Scrape until ``wanted`` holds (bounded); fails naming ``what`` otherwise."""
    found: Samples = {}
    try:
        with anyio.fail_after(timeout_s):
            # Polling: the service offers no event for "a cycle was scraped"; bounded above.
            while not wanted(found := samples(await scrape(service))):  # noqa: ASYNC110
                await anyio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"Within {timeout_s:g} s, {what} did not show on /metrics: {found}")
    return found


def web(**labels: str) -> dict[str, str]:
    return {"namespace": "shop", "deployment": "web", **labels}


async def test_a_scale_up_shows_as_a_decision_an_action_and_new_replicas(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 90.0
    async with running(settings_for(tmp_path), cluster) as service:
        executed = web(source="rules", outcome="executed", code="ok")
        found = await scrape_until(
            service,
            lambda s: value(s, "claudescale_workload_desired_replicas", **web()) == 5,
            "the scale-up to 5 replicas",
        )
    assert value(found, "claudescale_decisions_total", **executed) == 1
    assert value(found, "claudescale_actions_total", **web(direction="up")) == 1
    assert value(found, "claudescale_actions_total", **web(direction="down")) == 0
    assert value(found, "claudescale_workload_min_replicas", **web()) == 2
    assert value(found, "claudescale_workload_max_replicas", **web()) == 5
    assert value(found, "claudescale_workload_ready_replicas", **web()) == 5
    assert value(found, "claudescale_workload_cpu_utilisation_ratio", **web()) == pytest.approx(0.9)
    assert value(found, "claudescale_workload_scale_down_cpu_below_ratio", **web()) == 0.4
    assert value(found, "claudescale_workload_cpu_target_ratio", **web()) == 0.6
    up_left = value(found, "claudescale_workload_cooldown_remaining_seconds", **web(direction="up"))
    assert up_left is not None and 80.0 < up_left <= 90.0
    assert value(found, "claudescale_audit_records_written_total", kind="intent") == 1
    assert value(found, "claudescale_audit_write_failures_total") == 0
    assert value(found, "claudescale_leader") == 1
    assert value(found, "claudescale_blind_seconds") == 0
    assert value(found, "claudescale_build_info", version="0.1.0", mode="autonomous") == 1


async def test_holds_are_counted_as_decisions_of_the_loop(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 60.0
    async with running(settings_for(tmp_path), cluster) as service:
        held = web(source="rules", outcome="held", code="hold")
        found = await scrape_until(
            service,
            lambda s: (value(s, "claudescale_decisions_total", **held) or 0) >= 2,
            "two holds",
        )
    # A managed workload's action counters start at 0, so a first action is an increase.
    assert value(found, "claudescale_actions_total", **web(direction="up")) == 0


async def test_a_workload_that_goes_away_loses_its_series(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 60.0
    cluster.add(WorkloadRef("shop", "api"), 2).cpu_percent = 60.0
    async with running(settings_for(tmp_path), cluster) as service:
        await scrape_until(
            service,
            lambda s: value(s, "claudescale_workload_desired_replicas", **web()) == 3,
            "shop/web",
        )
        cluster.get(WEB).deleted = True
        found = await scrape_until(
            service,
            lambda s: value(s, "claudescale_workload_desired_replicas", **web()) is None,
            "the removal of shop/web",
        )
    assert not [key for key in found if ("deployment", "web") in key[1]]
    api = {"namespace": "shop", "deployment": "api"}
    assert value(found, "claudescale_workload_desired_replicas", **api) == 2


async def test_a_change_waiting_for_a_human_shows_as_a_pending_approval(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 90.0
    async with running(settings_for(tmp_path, mode="supervised"), cluster) as service:
        found = await scrape_until(
            service, lambda s: value(s, "claudescale_approvals_pending") == 1, "the approval"
        )
    age_s = value(found, "claudescale_approvals_oldest_pending_age_seconds")
    assert age_s is not None and 0.0 <= age_s < 10.0
    pending = web(source="rules", outcome="pending", code="approval_required")
    assert value(found, "claudescale_decisions_total", **pending) == 1
    assert value(found, "claudescale_actions_total", **web(direction="up")) == 0


class FailingModel:
    name = "flaky-model"

    async def propose(self, situations: Sequence[Any]) -> Sequence[Proposal]:
        raise RuntimeError("the model endpoint answered 500")


class SilentModel:
    name = "silent-model"

    async def propose(self, situations: Sequence[Any]) -> Sequence[Proposal]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def test_model_consults_are_timed_and_counted_by_result(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 60.0
    settings = settings_for(tmp_path, proposer_deadline_s=0.05)
    models: list[Proposer] = [FailingModel(), SilentModel()]
    async with running(settings, cluster, models) as service:
        timed_out = {"proposer": "silent-model", "result": "timeout"}
        found = await scrape_until(
            service,
            lambda s: (value(s, "claudescale_model_consults_total", **timed_out) or 0) >= 2,
            "two timed-out consults",
        )
    failed_labels = {"proposer": "flaky-model", "result": "failed"}
    failed = value(found, "claudescale_model_consults_total", **failed_labels)
    assert failed is not None and failed >= 2
    count = value(found, "claudescale_proposer_latency_seconds_count", proposer="silent-model")
    assert count == value(found, "claudescale_model_consults_total", **timed_out)
    total_s = value(found, "claudescale_proposer_latency_seconds_sum", proposer="silent-model")
    assert total_s is not None and total_s >= 0.04 * (count or 0)


class StrayModel:
    """Proposes for workloads nobody asked about, under names an attacker could choose."""

    name = "stray-model"

    def __init__(self) -> None:
        self.calls = 0

    async def propose(self, situations: Sequence[Any]) -> Sequence[Proposal]:
        self.calls += 1
        ghost = WorkloadRef("shop", f"ghost-{self.calls}")
        return [Proposal(ghost, Action.SCALE_UP, 4, "A made-up workload.", Source.MODEL_PROVIDER)]


async def test_decisions_on_made_up_workloads_never_become_label_values(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 60.0
    models: list[Proposer] = [StrayModel()]
    async with running(settings_for(tmp_path), cluster, models) as service:
        refused = {
            "namespace": "(unmanaged)",
            "deployment": "(unmanaged)",
            "source": "model_provider",
            "outcome": "blocked",
            "code": "invalid_target",
        }
        found = await scrape_until(
            service,
            lambda s: (value(s, "claudescale_decisions_total", **refused) or 0) >= 3,
            "three refused made-up workloads",
        )
    assert not [key for key in found if any(v.startswith("ghost") for _, v in key[1])]
    held = web(source="rules", outcome="held", code="hold")
    assert (value(found, "claudescale_decisions_total", **held) or 0) >= 1


class BlindCluster(ScriptedCluster):
    async def cpu(self, workloads: Sequence[Any]) -> Mapping[WorkloadRef, Any]:
        raise MetricsUnavailable("Prometheus refused the connection")


async def test_seconds_blind_grow_while_prometheus_cannot_be_read(tmp_path: Path) -> None:
    cluster = BlindCluster(SystemClock())
    cluster.add(WEB, 3)
    async with running(settings_for(tmp_path), cluster) as service:
        found = await scrape_until(
            service, lambda s: (value(s, "claudescale_blind_seconds") or 0) > 0.3, "blindness"
        )
    cycles = value(found, "claudescale_loop_cycles")
    assert cycles is not None and cycles >= 2


class BrokenLog:
    def append(self, kind: str, fields: Mapping[str, Any], *, durable: bool = False) -> int:
        raise AuditError("the audit log's disk is full")


def test_an_audit_write_that_fails_is_counted_and_still_raised() -> None:
    telemetry = Telemetry()
    with pytest.raises(AuditError, match="disk is full"):
        AuditTap(BrokenLog(), telemetry).append("intent", {"workload": "shop/web"}, durable=True)
    found = samples(telemetry.exposition().decode())
    assert value(found, "claudescale_audit_write_failures_total") == 1
    assert value(found, "claudescale_audit_records_written_total", kind="intent") is None


def test_two_services_in_one_process_keep_separate_registries() -> None:
    first, second = Telemetry(), Telemetry()
    first.observe_verdict(WEB, "cli", "blocked", "above_max", 5, 6)
    found = samples(second.exposition().decode())
    assert value(found, "claudescale_decisions_total", **web(source="cli")) is None
    assert not [key for key in found if key[0] == "claudescale_decisions_total"]


@pytest.mark.prometheus
async def test_the_exposition_passes_promtool_check_metrics(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 90.0
    models: list[Proposer] = [FailingModel()]
    async with running(settings_for(tmp_path), cluster, models) as service:
        await scrape_until(
            service,
            lambda s: value(s, "claudescale_workload_desired_replicas", **web()) == 5,
            "the scale-up",
        )
        text = await scrape(service)
    result = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [str(PROMTOOL), "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout
