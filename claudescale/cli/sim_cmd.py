"""``claudescale sim``: run the sandbox Kubernetes API in the foreground.

Layer: edge (CLI). Starts claudescale.sim's server on loopback, writes a kubeconfig for it,
prints its kubeconfig and how to point claudescale at it, and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from claudescale.sim import Sandbox, SimCluster, SimOptions, load_sim_config, write_kubeconfig
from claudescale.sim.rbac import ADMIN, PRODUCT
from claudescale.sim.rbac_files import load_role_files

DEFAULT_KUBECONFIG = Path(".cache/claudescale-sim/kubeconfig")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="Run the local sandbox cluster (a Kubernetes API on loopback).",
        description="Run the sandbox: Deployments, the scale subresource, pods with start-up "
        "delay, HPAs and watches over the real Kubernetes REST paths, plus cAdvisor CPU "
        "counters on /metrics and load control on /sim/v1.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (loopback).")
    parser.add_argument("--port", type=int, default=0, help="Port; 0 (default) picks a free one.")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=DEFAULT_KUBECONFIG,
        help=f"Where to write a kubeconfig for the sandbox (default {DEFAULT_KUBECONFIG}).",
    )
    parser.add_argument("--config", type=Path, default=None, help="Sandbox YAML file.")
    parser.add_argument("--token", default=None, help="Require this bearer token.")
    parser.add_argument(
        "--rbac",
        choices=(ADMIN, PRODUCT),
        default=ADMIN,
        help="'product' allows only what the product's ServiceAccount may do (403 otherwise).",
    )
    parser.add_argument(
        "--rbac-namespace",
        action="append",
        default=None,
        metavar="NS",
        help="With --rbac product: bind the role only in this namespace (repeatable).",
    )
    parser.add_argument(
        "--rbac-from",
        action="append",
        type=Path,
        default=None,
        metavar="FILE",
        help="Enforce the Roles and RoleBindings in this YAML file or directory as written, "
        "for claudescale's ServiceAccount (repeatable; replaces --rbac).",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    config = load_sim_config(args.config)
    options = SimOptions(
        host=args.host,
        port=args.port,
        token=args.token,
        rbac=load_role_files(args.rbac_from) if args.rbac_from else args.rbac,
        rbac_namespaces=tuple(args.rbac_namespace) if args.rbac_namespace else None,
    )
    try:
        asyncio.run(_serve(SimCluster(config), options, args.kubeconfig))
    except KeyboardInterrupt:
        return 0
    return 0


async def _serve(cluster: SimCluster, options: SimOptions, kubeconfig: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Sandbox(cluster, options) as sandbox:
        path = write_kubeconfig(kubeconfig, sandbox.url, options.token).resolve()
        namespaces = sorted({w.namespace for w in cluster.config.workloads})
        print(_banner(sandbox, path, namespaces), flush=True)
        await stop.wait()
        print("claudescale sim: stopped.", file=sys.stderr, flush=True)


def _banner(sandbox: Sandbox, kubeconfig: Path, namespaces: list[str]) -> str:
    workloads = ", ".join(
        f"{w.namespace}/{w.name} ({w.replicas})" for w in sandbox.cluster.config.workloads
    )
    listed = "[" + ", ".join(namespaces) + "]"
    return "\n".join(
        [
            f"claudescale sim: Kubernetes API sandbox on {sandbox.url}",
            f"  workloads:   {workloads or 'none'}",
            f"  kubeconfig:  {kubeconfig} (for any Kubernetes client: KUBECONFIG={kubeconfig})",
            f"  claudescale: export CLAUDESCALE_CLUSTER__KUBECONFIG={kubeconfig} "
            f"CLAUDESCALE_CLUSTER__NAMESPACES='{listed}' "
            f"CLAUDESCALE_AUDIT__PATH={kubeconfig.parent / 'claudescale-audit.jsonl'}",
            "  then:        claudescale run (another terminal), claudescale status, "
            "claudescale approvals list",
            f"  metrics:     {sandbox.url}/metrics (container_cpu_usage_seconds_total)",
            f"  load:        curl -X POST {sandbox.url}/sim/v1/load "
            '-d \'{"namespace": "demo", "name": "web", "phase": "ramp"}\'',
            "Press Ctrl-C to stop.",
        ]
    )
