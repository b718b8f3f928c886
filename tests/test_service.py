"""The service: composition, health endpoints, shutdown within the grace, `claudescale run`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest
import yaml

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog, iter_records, verify
from claudescale.config import Settings, parse_settings
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.service import RootLoopEnded, Service
from claudescale.errors import MetricsUnavailable
from claudescale.sim import write_kubeconfig
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.prometheus import PrometheusHarness
from claudescale.testing.sandbox import (
    StartSandbox,
    has_rates_for,
    sandbox_config,
    sandbox_cpu_query,
)
from claudescale.testing.waits import wait_until

WEB = WorkloadRef("shop", "web")


class HeldWrites(ScriptedCluster):
    """Scale writes start (``writing`` is set) and then wait until the test sets ``release``."""

    def __init__(self) -> None:
        super().__init__(SystemClock())
        self.writing = anyio.Event()
        self.release = anyio.Event()

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        self.writing.set()
        await self.release.wait()
        return await super().scale(ref, replicas, resource_version)


def service_settings(tmp_path: Path, **service: Any) -> Settings:
    return parse_settings(
        {
            "mode": "autonomous",
            "audit": {"path": str(tmp_path / "audit.jsonl")},
            "loop": {"interval_s": 0.2},
            "service": {"port": 0, **service},
        }
    )


def kinds(path: Path) -> list[str]:
    return [r["kind"] for r in iter_records(path)]


@asynccontextmanager
async def started(service: Service) -> AsyncIterator[Callable[[], Any]]:
    """Run the service in a task; yields a function that returns once ``run`` has ended."""
    done = anyio.Event()

    async def run() -> None:
        try:
            await service.run(ready=ready)
        finally:
            done.set()

    ready = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(5):
            await ready.wait()
        yield done.wait
        service.stop()


async def test_stop_lets_the_write_in_flight_finish_and_records_it(tmp_path: Path) -> None:
    cluster = HeldWrites()
    cluster.add(WEB, 3).cpu_percent = 90.0
    settings = service_settings(tmp_path, shutdown_grace_s=5.0)
    log = settings.audit.path
    service = Service(settings, cluster=cluster, metrics=cluster, clock=SystemClock())
    async with started(service) as wait_done:
        with anyio.fail_after(5):
            await cluster.writing.wait()
        service.stop()
        await wait_until(lambda: "shutdown" in kinds(log), 5, "the shutdown", poll_s=0.01)
        cluster.release.set()  # the write ends within the grace
        with anyio.fail_after(5):
            await wait_done()
    order = [k for k in kinds(log) if k in ("intent", "shutdown", "outcome", "verdict")]
    assert order == ["intent", "shutdown", "outcome", "verdict"]
    assert cluster.get(WEB).replicas == 5
    assert "shutdown_abandoned" not in kinds(log)
    assert verify(log).ok


async def test_a_write_longer_than_the_grace_is_recorded_as_possibly_in_flight(
    tmp_path: Path,
) -> None:
    cluster = HeldWrites()
    cluster.add(WEB, 3).cpu_percent = 90.0
    settings = service_settings(tmp_path, shutdown_grace_s=0.2)
    log = settings.audit.path
    service = Service(settings, cluster=cluster, metrics=cluster, clock=SystemClock())
    async with started(service) as wait_done:
        with anyio.fail_after(5):
            await cluster.writing.wait()
        service.stop()
        # The grace is real time (the service's own deadline): 0.2 s, then it gives up.
        abandoned = "shutdown_abandoned"
        await wait_until(lambda: abandoned in kinds(log), 5, "giving up", poll_s=0.01)
        cluster.release.set()  # the write ends after the grace, under its own deadline
        with anyio.fail_after(5):
            await wait_done()
    order = [k for k in kinds(log) if k in ("intent", "shutdown", "shutdown_abandoned", "outcome")]
    assert order == ["intent", "shutdown", "shutdown_abandoned", "outcome"]
    abandoned = next(r for r in iter_records(log) if r["kind"] == "shutdown_abandoned")
    assert abandoned["in_flight"] == ["shop/web"]
    assert verify(log).ok


async def test_a_root_loop_that_returns_brings_the_service_down(tmp_path: Path) -> None:
    cluster = ScriptedCluster(SystemClock())
    cluster.add(WEB, 3).cpu_percent = 60.0
    service = Service(
        service_settings(tmp_path), cluster=cluster, metrics=cluster, clock=SystemClock()
    )
    ready = anyio.Event()
    with pytest.raises(ExceptionGroup) as raised:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(service.run, ready=ready))
            with anyio.fail_after(5):
                await ready.wait()
            service.executor.close()  # the executor's run() returns once its queue is closed
    assert raised.group_contains(RootLoopEnded, match="The executor loop returned by itself")


class NoPrometheus(ScriptedCluster):
    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        raise MetricsUnavailable("Prometheus at http://127.0.0.1:1 could not be reached.")


async def test_readyz_says_not_ready_while_the_loop_is_blind_and_healthz_stays_alive(
    tmp_path: Path,
) -> None:
    cluster = NoPrometheus(SystemClock())
    cluster.add(WEB, 3)
    service = Service(
        service_settings(tmp_path), cluster=cluster, metrics=cluster, clock=SystemClock()
    )
    async with started(service), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{service.health_port}"
        blind = await poll_status(
            http, f"{url}/readyz", 503, lambda body: body["loop_health"] == "blind"
        )
        async with http.get(f"{url}/healthz") as answer:
            alive = await answer.json()
            assert answer.status == 200
    assert "could not be reached" in blind["blind_reason"]
    assert alive["loops"] == ["controller", "executor", "health"]


@pytest.mark.parametrize(("tamper", "recovered"), [(False, True), (True, False)])
async def test_the_executor_recovers_from_the_audit_log_only_when_it_verifies(
    tmp_path: Path, tamper: bool, recovered: bool
) -> None:
    settings = service_settings(tmp_path)
    path = settings.audit.path
    with AuditLog(path, 1 << 20, ManualClock()) as audit:
        for n in range(3):
            audit.append("note", {"n": n})
    if tamper:
        path.write_text(path.read_text().replace('"n":1', '"n":7'))
    cluster = ScriptedCluster(SystemClock())
    service = Service(settings, cluster=cluster, metrics=cluster, clock=SystemClock())
    async with started(service):
        pass
    restart = [r for r in iter_records(path) if r["kind"] == "restart"]
    assert [r["recovered"] for r in restart] == [recovered]


@pytest.mark.prometheus
@pytest.mark.slow
async def test_claudescale_run_answers_health_checks_and_stops_cleanly_on_sigterm(
    prometheus: PrometheusHarness, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = await start_sandbox(sandbox_config(), clock=SystemClock())
    audit_path = tmp_path / "audit.jsonl"
    config = tmp_path / "claudescale.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mode": "autonomous",
                "cluster": {
                    "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", sandbox.url)),
                    "namespaces": ["demo"],
                },
                "prometheus": {
                    "url": prometheus.url,
                    "rate_window": "4s",
                    "scrape_interval_s": 1.0,
                },
                "audit": {"path": str(audit_path)},
                "loop": {"interval_s": 0.5},
                "service": {"port": 0, "shutdown_grace_s": 5.0},
            }
        )
    )
    with prometheus.scraping(f"127.0.0.1:{sandbox.port}"):
        await anyio.to_thread.run_sync(
            lambda: prometheus.wait_for(sandbox_cpu_query(), has_rates_for(3))
        )
        command = [sys.executable, "-m", "claudescale.cli.main", "run", "--config", str(config)]
        async with await anyio.open_process(command, stderr=subprocess.PIPE) as process:
            lines = JsonLines(process)
            listening = await lines.until(lambda entry: entry.get("event") == "listening")
            url = listening["url"]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/healthz") as answer:
                    assert answer.status == 200
                ready = await poll_status(http, f"{url}/readyz", 200)
                async with http.post(f"{url}/reconcile") as answer:
                    assert answer.status == 202
            process.send_signal(signal.SIGTERM)
            await lines.until(lambda entry: entry.get("event") == "stopped")
            with anyio.fail_after(10):
                status = await process.wait()
    assert status == 0
    assert ready["loop_health"] == "seeing"
    assert {"signal", "shutdown", "stopped"} <= {e.get("event") for e in lines.seen}
    assert verify(audit_path).ok
    assert [k for k in kinds(audit_path) if k != "state_checkpoint"][-1] == "shutdown"


class JsonLines:
    """The child's stderr, read line by line; every line must be one JSON object."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stderr is not None
        self._stream = process.stderr
        self._buffer = b""
        self.seen: list[dict[str, Any]] = []

    async def until(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with anyio.fail_after(20):
            while True:
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    entry = orjson.loads(line)
                    assert isinstance(entry, dict), line
                    self.seen.append(entry)
                    if wanted(entry):
                        return entry
                self._buffer += await self._stream.receive()


async def poll_status(
    http: aiohttp.ClientSession,
    url: str,
    status: int,
    wanted: Callable[[dict[str, Any]], bool] = lambda body: True,
) -> dict[str, Any]:
    """GET ``url`` until it answers ``status`` with a wanted body (bounded); returns it."""
    with anyio.fail_after(15):
        while True:
            async with http.get(url) as answer:
                body: dict[str, Any] = await answer.json()
                if answer.status == status and wanted(body):
                    return body
            await anyio.sleep(0.2)
