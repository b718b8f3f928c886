"""``claudescale run --config FILE``: the autoscaler service in the foreground.

Layer: edge (CLI). Reads the settings (file and ``CLAUDESCALE_*``), sets up JSON-line logs on
stderr, opens the Kubernetes adapter (its workload cache runs while open) and the Prometheus
adapter, and runs
``claudescale.engine.service.serve`` until SIGTERM or SIGINT; exits 0 after a clean shutdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.config import Settings, load_settings
from claudescale.engine.service import serve
from claudescale.logs import configure_logging


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="Run the autoscaler: poll loop, executor and health endpoint.",
        description="Run claudescale: poll Prometheus and the cluster, propose, judge and "
        "apply changes within the guardrails, and serve /healthz and /readyz. Stops "
        "cleanly on SIGTERM or SIGINT.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (and CLAUDESCALE_*)."
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.service.log_level)
    anyio.run(_main, settings)
    return 0


async def _main(settings: Settings) -> None:
    clock = SystemClock()
    async with KubernetesCluster.open(settings.cluster, clock) as cluster:
        metrics = PrometheusMetrics(settings.prometheus, clock)
        await serve(settings, cluster=cluster, metrics=metrics, clock=clock)
