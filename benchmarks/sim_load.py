"""The sandbox under load: reads and scale writes per second with 1,000 Deployments.

Run: ``.venv/bin/python -m benchmarks.sim_load [--deployments N] [--seconds S]``.
Writes ``benchmarks/results/sim_load.json`` and prints a table.

The sandbox runs as ``claudescale sim`` in its own process (so server and client each have
a core), with N opted-in Deployments of one replica in namespace ``bench``. The client is
kubernetes-asyncio over loopback with a few requests in flight, each phase bounded in time:

- get (adapter): one Deployment read as JSON, the way the product's adapter reads;
- get (typed): the same read deserialised into kubernetes-asyncio's generated models;
- list: all N Deployments in one request (JSON);
- scale write: read the scale subresource, then PATCH it with that resourceVersion as
  precondition (the product's write); the rate counts writes, each one a 1 <-> 2 change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from benchmarks.common import start_sandbox, write_results
from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.config.groups import ClusterSettings
from claudescale.core.values import WorkloadRef
from claudescale.errors import Conflict

NAMESPACE = "bench"


def _sim_config(deployments: int) -> dict[str, Any]:
    return {
        "namespaces": [NAMESPACE],
        "workloads": [
            {"namespace": NAMESPACE, "name": f"app-{n:04d}", "replicas": 1}
            for n in range(deployments)
        ],
    }


async def _measure(
    seconds: float, workers: int, one: Callable[[int, int], Awaitable[int]]
) -> dict[str, float]:
    """Run ``one(worker, i)`` in a loop on each worker for ``seconds``; it returns how many
    operations it did. Returns operations per second and the mean latency in ms."""
    done = [0] * workers
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            done[w] += await one(w, i)
            latencies.append(time.perf_counter() - started)
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.perf_counter() - started
    return {
        "per_s": round(sum(done) / elapsed, 1),
        "mean_latency_ms": round(1000 * sum(latencies) / max(1, len(latencies)), 2),
        "operations": sum(done),
    }


async def run(deployments: int, seconds: float, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        process, kubeconfig, _ = await start_sandbox(
            Path(directory), _sim_config(deployments), ready_timeout_s=120
        )
        try:
            settings = ClusterSettings(kubeconfig=kubeconfig, namespaces=(NAMESPACE,))
            async with await KubernetesCluster.connect(settings) as cluster:
                return await _phases(cluster, deployments, seconds, workers)
        finally:
            process.terminate()
            await process.wait()


async def _phases(
    cluster: KubernetesCluster, deployments: int, seconds: float, workers: int
) -> dict[str, Any]:
    apps = cluster.apps
    typed = client.AppsV1Api(cluster.apps.api_client)
    names = [f"app-{n:04d}" for n in range(deployments)]

    async def get_json(w: int, i: int) -> int:
        name = names[(w * 7919 + i) % deployments]
        await cluster.call("reading", apps.read_namespaced_deployment, name, NAMESPACE)
        return 1

    async def get_typed(w: int, i: int) -> int:
        await typed.read_namespaced_deployment(names[(w * 7919 + i) % deployments], NAMESPACE)
        return 1

    async def list_all(w: int, i: int) -> int:
        listing = await cluster.call("listing", apps.list_namespaced_deployment, NAMESPACE)
        assert len(listing["items"]) == deployments
        return 1

    conflicts = [0]

    async def scale_write(w: int, i: int) -> int:
        # Each worker owns its own Deployments, so a 409 here would be the sandbox's fault.
        ref = WorkloadRef(NAMESPACE, names[(w + i * workers) % deployments])
        scale = await cluster.call(
            "reading scale", apps.read_namespaced_deployment_scale, ref.name, NAMESPACE
        )
        replicas = 2 if scale["spec"]["replicas"] == 1 else 1
        try:
            await cluster.scale(ref, replicas, scale["metadata"]["resourceVersion"])
        except Conflict:
            conflicts[0] += 1
            return 0
        return 1

    results: dict[str, Any] = {
        "deployments": deployments,
        "seconds_per_phase": seconds,
        "requests_in_flight": workers,
    }
    results["get_adapter_json"] = await _measure(seconds, workers, get_json)
    results["get_typed_models"] = await _measure(seconds, workers, get_typed)
    results["list_all_deployments"] = await _measure(seconds, 2, list_all)
    results["scale_write_with_precondition"] = await _measure(seconds, workers, scale_write)
    results["scale_write_conflicts"] = conflicts[0]
    results.update(
        python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count()
    )
    return results


def _table(results: dict[str, Any]) -> str:
    rows = [
        ("get Deployment (JSON, as the adapter)", "get_adapter_json"),
        ("get Deployment (typed models)", "get_typed_models"),
        (f"list {results['deployments']} Deployments", "list_all_deployments"),
        ("scale write (read + PATCH with rv)", "scale_write_with_precondition"),
    ]
    lines = [f"{'operation':42} {'per s':>10} {'mean ms':>9}"]
    for label, key in rows:
        lines.append(f"{label:42} {results[key]['per_s']:>10} {results[key]['mean_latency_ms']:>9}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each phase.")
    parser.add_argument("--workers", type=int, default=8, help="Requests in flight.")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.deployments, args.seconds, args.workers))
    path = write_results("sim_load", results)
    print(_table(results))
    print(f"Wrote {path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
