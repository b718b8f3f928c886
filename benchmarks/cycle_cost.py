"""What one poll cycle costs against the number of managed workloads (10 to 5,000).

Run: ``.venv/bin/python -m benchmarks.cycle_cost [--sizes 10,100,1000,5000] [--cycles 5]``.
Writes ``benchmarks/results/cycle_cost.json`` and prints a table.

For each size the sandbox runs as ``claudescale sim`` in its own process with N opted-in
Deployments of one replica (250m requested, 0.1 cores used: 40 %, so the rules hold at the
minimum of 1 and nothing is written), a real Prometheus scrapes it every second, and the
product's own parts run one cycle at a time: the Kubernetes adapter (list Deployments, pods,
HPAs, ScaledObjects), the Prometheus adapter (one PromQL query), the typed situations, the
rules, and the ``cycle`` audit record. Measured per cycle: wall time (median of ``--cycles``
after one warm-up), split into listing the workloads, the CPU query, and the loop's own
work (the rest); PromQL queries sent; and the peak of Python allocations during one cycle
(tracemalloc, in a separate cycle because tracing slows Python down).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from benchmarks.common import start_sandbox, write_results
from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.config import Settings, parse_settings
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.sim.prometheus import PrometheusProcess, wait_for_count
from claudescale.testing.harness import Harness

NAMESPACE = "bench"


def _sim_config(workloads: int) -> dict[str, Any]:
    return {
        "namespaces": [NAMESPACE],
        "phases": {"idle_cores": 0.1},
        "workloads": [
            {"namespace": NAMESPACE, "name": f"app-{n:05d}", "replicas": 1}
            for n in range(workloads)
        ],
    }


def _wait_for_rates(url: str, pods: int, timeout_s: float = 120.0) -> None:
    query = f'count(rate(container_cpu_usage_seconds_total{{namespace="{NAMESPACE}"}}[4s]))'
    if not wait_for_count(url, query, pods, timeout_s=timeout_s):
        raise SystemExit(f"Prometheus did not have rates for {pods} pods within {timeout_s:g} s.")


def _settings(prometheus_url: str, kubeconfig: Path, audit_path: Path) -> Settings:
    return parse_settings(
        {
            "mode": "observe",
            "guardrails": {"min_replicas": 1, "max_replicas": 5},
            "cluster": {
                "kubeconfig": str(kubeconfig),
                "namespaces": [NAMESPACE],
                "request_timeout_s": 60.0,
            },
            "prometheus": {
                "url": prometheus_url,
                "rate_window": "4s",
                "scrape_interval_s": 1.0,
                "query_timeout_s": 30.0,
            },
            "audit": {"path": str(audit_path)},
            "loop": {"interval_s": 1.0, "list_timeout_s": 120.0},
        }
    )


async def measure(workloads: int, cycles: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        sandbox, kubeconfig, address = await start_sandbox(directory, _sim_config(workloads))
        prometheus = PrometheusProcess(scrape_interval_s=1.0, workdir=directory / "prometheus")
        prometheus.targets.add(address)
        try:
            await anyio.to_thread.run_sync(prometheus.start)
            await anyio.to_thread.run_sync(_wait_for_rates, prometheus.url, workloads)
            settings = _settings(prometheus.url, kubeconfig, directory / "audit.jsonl")
            return await _cycles(settings, workloads, cycles)
        finally:
            await anyio.to_thread.run_sync(prometheus.stop)
            sandbox.terminate()
            await sandbox.wait()


class _Timed:
    """Wraps the Cluster and MetricsSource to time the two reads of each cycle."""

    def __init__(self, cluster: KubernetesCluster, metrics: PrometheusMetrics) -> None:
        self.cluster, self.metrics = cluster, metrics
        self.list_s = self.query_s = 0.0

    async def list_workloads(self) -> Sequence[WorkloadState]:
        started = time.perf_counter()
        try:
            return await self.cluster.list_workloads()
        finally:
            self.list_s = time.perf_counter() - started

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        return await self.cluster.read_workload(ref)

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        return await self.cluster.scale(ref, replicas, resource_version)

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        started = time.perf_counter()
        try:
            return await self.metrics.cpu(workloads)
        finally:
            self.query_s = time.perf_counter() - started


async def _cycles(settings: Settings, workloads: int, cycles: int) -> dict[str, Any]:
    clock = SystemClock()
    kubernetes = await KubernetesCluster.connect(settings.cluster, clock)
    try:
        prometheus = PrometheusMetrics(settings.prometheus, clock)
        cluster = metrics = timed = _Timed(kubernetes, prometheus)
        harness = Harness(clock, cluster, settings, metrics=metrics, deadline_s=math.inf)
        async with harness.running(recover=False):
            controller = harness.controller()
            warm = await controller.cycle()
            times_s, list_s, query_s, queries, held = [], [], [], [], warm.held
            for _ in range(cycles):
                before = prometheus.queries_issued
                started = time.perf_counter()
                report = await controller.cycle()
                times_s.append(time.perf_counter() - started)
                list_s.append(timed.list_s)
                query_s.append(timed.query_s)
                queries.append(prometheus.queries_issued - before)
                held = min(held, report.held)
            tracemalloc.start()
            tracemalloc.reset_peak()
            await controller.cycle()
            peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        await kubernetes.aclose()
    own_s = [t - a - b for t, a, b in zip(times_s, list_s, query_s, strict=True)]
    situations = controller.status().situations
    missing = sum(1 for situation in situations if situation.reading.percent is None)
    return {
        "workloads": workloads,
        "seen": warm.workloads,
        "cycle_median_s": round(statistics.median(times_s), 4),
        "cycle_max_s": round(max(times_s), 4),
        "list_workloads_median_s": round(statistics.median(list_s), 4),
        "cpu_query_median_s": round(statistics.median(query_s), 4),
        "loop_own_median_s": round(statistics.median(own_s), 4),
        "promql_queries_per_cycle": max(queries),
        "peak_allocated_mib": round(peak_bytes / 2**20, 1),
        "holds": held,
        "without_reading": missing,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'workloads':>9} {'cycle s':>9} {'list s':>8} {'query s':>8} {'loop s':>8} "
        f"{'PromQL/cycle':>13} {'peak MiB':>9} {'no reading':>11}"
    ]
    for row in rows:
        lines.append(
            f"{row['workloads']:>9} {row['cycle_median_s']:>9} "
            f"{row['list_workloads_median_s']:>8} {row['cpu_query_median_s']:>8} "
            f"{row['loop_own_median_s']:>8} {row['promql_queries_per_cycle']:>13} "
            f"{row['peak_allocated_mib']:>9} {row['without_reading']:>11}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000,5000", help="Workload counts.")
    parser.add_argument("--cycles", type=int, default=5, help="Measured cycles per size.")
    args = parser.parse_args(argv)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"measuring {size} workloads...", flush=True)
        rows.append(anyio.run(measure, size, args.cycles))
    results = {
        "sizes": rows,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    path = write_results("cycle_cost", results)
    print(_table(rows))
    print(f"Wrote {path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
