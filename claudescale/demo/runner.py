"""Runs the demo: sandbox, Prometheus, the claudescale service, the load phases and the view.

Layer: edge. Everything lives under a run directory (``demo-output/<time>/``: audit log,
Prometheus data and log, kubeconfig, claudescale's JSON log, ``summary.json``), and
``demo-output/current.json`` names the running sandbox for ``make demo-load``. The first
Ctrl-C (or SIGTERM) stops the demo early but cleanly, the second one hurries it; either way
the Prometheus child is stopped and the summary is computed from the audit log. Prometheus
scrapes the sandbox and claudescale's ``/metrics``; before it stops, a clean end draws
``report.png`` from the dashboard's own queries (``claudescale.demo.report``).
"""

from __future__ import annotations

import json
import shutil
import signal
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

import anyio
import anyio.to_thread

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.config import Settings
from claudescale.config.groups import prometheus_duration_s
from claudescale.demo.files import CURRENT, new_run_dir, write_current
from claudescale.demo.panels import DASHBOARD, Window
from claudescale.demo.plan import (
    LOADED,
    MANIFESTS,
    NAMESPACE,
    RATE_WINDOW,
    SCRAPE_INTERVAL_S,
    DemoPlan,
)
from claudescale.demo.report import report_demo
from claudescale.demo.summary import DemoSummary, summarise
from claudescale.demo.view import HIDE_CURSOR, SHOW_CURSOR, Frame, event_line, render_frame
from claudescale.engine.loop_memory import Decision
from claudescale.engine.service import Service
from claudescale.logs import configure_logging
from claudescale.sim import Sandbox, SimCluster, SimOptions, write_kubeconfig
from claudescale.sim.prometheus import (
    PrometheusProcess,
    PrometheusProcessError,
    wait_for_count,
)
from claudescale.sim.rbac import ADMIN
from claudescale.sim.rbac_files import load_role_files

REFRESH_S = 0.5


@dataclass(frozen=True, slots=True)
class DemoOptions:
    duration_s: float = 300.0
    speed: float | None = None
    view: bool = True
    play_load: bool = True
    output: Path = Path("demo-output")
    dashboard: Path = DASHBOARD
    """Whose panel queries draw report.png."""
    rbac_from: Path | None = MANIFESTS if MANIFESTS.is_dir() else None
    """The sandbox enforces the Roles in these RBAC files as written (None: it allows all)."""


@dataclass(slots=True)
class _Parts:
    plan: DemoPlan
    options: DemoOptions
    run_dir: Path
    sim: SimCluster
    sandbox_url: str
    prometheus_url: str
    settings: Settings
    clock: SystemClock
    prometheus: PrometheusProcess


async def run_demo(options: DemoOptions, out: TextIO) -> DemoSummary:
    """Run the demo to its end (or the first Ctrl-C); returns the audit log's summary."""
    plan = DemoPlan.make(options.duration_s, options.speed)
    # Absolute: Prometheus reads file_sd paths relative to its configuration file.
    run_dir = new_run_dir(options.output.resolve())
    with (run_dir / "claudescale.log").open("w", encoding="utf-8") as log_file:
        handler = configure_logging("info", stream=log_file)
        try:
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_watch_signals, stop, tg.cancel_scope)
                print(f"claudescale demo: starting in {run_dir} ({plan.scaling_note()}).", file=out)
                await _with_sandbox(plan, options, run_dir, stop, out)
                tg.cancel_scope.cancel()
        finally:
            handler.close()
    summary = summarise(run_dir / "audit.jsonl")
    text = json.dumps(summary.as_json(), indent=2)
    (run_dir / "summary.json").write_text(text + "\n", encoding="utf-8")
    return summary


async def _watch_signals(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                scope.cancel()
                return
            stop.set()


async def _with_sandbox(
    plan: DemoPlan, options: DemoOptions, run_dir: Path, stop: anyio.Event, out: TextIO
) -> None:
    clock = SystemClock()
    sim = SimCluster(plan.sim_config(), clock)
    policy = None if options.rbac_from is None else load_role_files([options.rbac_from])
    async with Sandbox(sim, SimOptions(rbac=policy or ADMIN)) as sandbox:
        kubeconfig = write_kubeconfig(run_dir / "kubeconfig", sandbox.url)
        prometheus = PrometheusProcess(
            scrape_interval_s=SCRAPE_INTERVAL_S, workdir=run_dir / "prometheus"
        )
        prometheus.targets.add(f"127.0.0.1:{sandbox.port}", {"source": "claudescale-sandbox"})
        current = options.output / CURRENT
        try:
            await anyio.to_thread.run_sync(prometheus.start)
            # A rate over a window not yet full of samples reads low (Prometheus extrapolates
            # only half a scrape beyond the samples it has): start once the window is full.
            pods = sum(w.replicas for w in plan.sim_config().workloads)
            print(
                f"claudescale demo: Prometheus on {prometheus.url} is filling its "
                f"{RATE_WINDOW} rate window...",
                file=out,
                flush=True,
            )
            await anyio.to_thread.run_sync(_wait_for_full_window, prometheus.url, pods)
            settings = plan.settings(
                prometheus_url=prometheus.url,
                kubeconfig=kubeconfig,
                audit_path=run_dir / "audit.jsonl",
            )
            write_current(current, plan, run_dir, sandbox.url, prometheus.url)
            parts = _Parts(
                plan,
                options,
                run_dir,
                sim,
                sandbox.url,
                prometheus.url,
                settings,
                clock,
                prometheus,
            )
            await _with_service(parts, stop, out)
            if policy is not None:
                print(
                    f"claudescale demo: the sandbox enforced the Roles in {options.rbac_from} "
                    f"as written: {policy.refusal_sentence()}",
                    file=out,
                    flush=True,
                )
        finally:
            with anyio.CancelScope(shield=True):
                current.unlink(missing_ok=True)
                await anyio.to_thread.run_sync(prometheus.stop)
                _drop_prometheus_data(run_dir / "prometheus")


def _wait_for_full_window(prometheus_url: str, pods: int, timeout_s: float = 30.0) -> None:
    """Blocking: until every demo pod has a full rate window of samples (bounded)."""
    window_s = prometheus_duration_s(RATE_WINDOW)
    samples = int(window_s / SCRAPE_INTERVAL_S)
    query = (
        f'count(count_over_time(container_cpu_usage_seconds_total{{namespace="{NAMESPACE}"}}'
        f"[{RATE_WINDOW}]) >= {samples})"
    )
    if wait_for_count(
        prometheus_url, query, pods, timeout_s=timeout_s, poll_s=SCRAPE_INTERVAL_S / 2
    ):
        return
    raise PrometheusProcessError(
        f"Prometheus at {prometheus_url} had no full {RATE_WINDOW} window of CPU samples for "
        f"the {pods} demo pods within {timeout_s:g} s."
    )


def _drop_prometheus_data(workdir: Path) -> None:
    """Keep Prometheus's configuration and log for the curious, not its database."""
    shutil.rmtree(workdir / "data", ignore_errors=True)


async def _with_service(parts: _Parts, stop: anyio.Event, out: TextIO) -> None:
    async with KubernetesCluster.open(parts.settings.cluster, parts.clock) as cluster:
        metrics = PrometheusMetrics(parts.settings.prometheus, parts.clock)
        service = Service(parts.settings, cluster=cluster, metrics=metrics, clock=parts.clock)
        started = parts.clock.now()
        ready, stopped = anyio.Event(), anyio.Event()

        async def run_service() -> None:
            try:
                await service.run(ready=ready)
            finally:
                stopped.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_service)
            await ready.wait()
            parts.prometheus.targets.add(
                f"127.0.0.1:{service.health_port}", {"source": "claudescale"}
            )
            started_wall_s = parts.clock.wall()
            if parts.options.play_load:
                tg.start_soon(_play_load, parts, started)
            tg.start_soon(_show, parts, service, started, out)
            with anyio.move_on_after(parts.plan.duration_s):
                await stop.wait()
            service.stop()
            await stopped.wait()
            tg.cancel_scope.cancel()
    report = partial(
        report_demo,
        run_dir=parts.run_dir,
        output=parts.options.output,
        dashboard=parts.options.dashboard,
        prometheus_url=parts.prometheus_url,
        namespace=NAMESPACE,
        window=Window.of(started_wall_s, parts.clock.wall(), SCRAPE_INTERVAL_S),
        title=f"claudescale demo {parts.run_dir.name}, namespace {NAMESPACE}, autonomous mode\n"
        f"{parts.plan.scaling_note()}",
    )
    print("\n".join(await anyio.to_thread.run_sync(report)), file=out, flush=True)


async def _play_load(parts: _Parts, started: float) -> None:
    for at_s, phase in parts.plan.schedule():
        await anyio.sleep(max(0.0, started + at_s - parts.clock.now()))
        parts.sim.set_load(NAMESPACE, LOADED, phase=phase)


async def _show(parts: _Parts, service: Service, started: float, out: TextIO) -> None:
    view = parts.options.view
    seen: set[Decision] = set()
    phase = ""
    if view:
        out.write(HIDE_CURSOR)
    try:
        while True:
            status = service.controller.status()
            load = parts.sim.load_of(NAMESPACE, LOADED)
            elapsed_s = parts.clock.now() - started
            if view:
                size = shutil.get_terminal_size((120, 40))
                frame = Frame(
                    plan=parts.plan,
                    elapsed_s=elapsed_s,
                    phase=load.phase,
                    demand_cores=parts.sim.demand_cores(NAMESPACE, LOADED),
                    status=status,
                    sandbox_url=parts.sandbox_url,
                    prometheus_url=parts.prometheus_url,
                    audit_path=parts.run_dir / "audit.jsonl",
                    started_mono=started,
                )
                out.write(render_frame(frame, size.columns, size.lines - 1))
            else:
                if load.phase != phase:
                    phase = load.phase
                    out.write(f"{elapsed_s:6.1f} s  phase {phase} for {NAMESPACE}/{LOADED}\n")
                for decision in status.recent:
                    if decision not in seen:
                        seen.add(decision)
                        out.write(event_line(decision, started) + "\n")
            out.flush()
            await anyio.sleep(REFRESH_S)
    finally:
        if view:
            out.write(SHOW_CURSOR + "\n")
            out.flush()
