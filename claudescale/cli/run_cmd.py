"""``claudescale run --config FILE``: the autoscaler service in the foreground.

Layer: edge (CLI). Reads the settings (file and ``CLAUDESCALE_*``), sets up JSON-line logs on
stderr and runs the service: the Kubernetes adapter (its workload cache runs while open), the
Prometheus adapter, leader election and Events, and the provider proposer when
``provider.enabled`` is set, until SIGTERM or SIGINT; exits 0 after a clean shutdown. With
``mcp.enabled`` it runs ``serve``'s assembly (``claudescale.cli.serve_cmd.serve_cluster``)
with the MCP tools over streamable HTTP at ``/mcp`` (a bind that is not loopback needs
``mcp.token_file`` or ``mcp.token_env``). Without it, it must not import the MCP SDK nor
build its schemas (they cost tens of MiB): ``run_cluster`` assembles the service alone, and
the provider proposer's SDK is imported only when ``provider.enabled``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from claudescale.assistant.economy import ChangeTriggered
from claudescale.assistant.provider import hand_audit
from claudescale.cli.serve_cmd import cluster_parts, one_error, serve_cluster
from claudescale.config import Settings, load_settings
from claudescale.engine.service import Service, stop_on_signal
from claudescale.logs import configure_logging
from claudescale.ports import (
    Clock,
    Cluster,
    EventRecorder,
    Leadership,
    MetricsSource,
    Proposer,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="Run the autoscaler: poll loop, executor and health endpoint.",
        description="Run claudescale: poll Prometheus and the cluster, propose, judge and "
        "apply changes within the guardrails, and serve /healthz and /readyz (and the MCP "
        "tools over HTTP at /mcp when the settings' mcp.enabled is set). Stops cleanly on "
        "SIGTERM or SIGINT.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML settings file (default: $CLAUDESCALE_CONFIG; CLAUDESCALE_* override it).",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if not settings.mcp.enabled:
        configure_logging(settings.service.log_level)
        with one_error():
            anyio.run(run_cluster, settings)
        return 0
    from claudescale.assistant.serving import options_for_run  # the MCP SDK: only now

    options = options_for_run(settings)  # a bad MCP bind or token refuses before anything
    configure_logging(settings.service.log_level)
    with one_error():
        anyio.run(serve_cluster, settings, options)
    return 0


async def run_cluster(settings: Settings) -> None:
    """The service on the configured cluster and Prometheus, with the provider proposer when
    enabled and no MCP endpoint, until SIGTERM or SIGINT."""
    async with cluster_parts(settings) as parts:
        await run_service(
            settings,
            cluster=parts.cluster,
            metrics=parts.metrics,
            clock=parts.clock,
            models=parts.models,
            leadership=parts.leadership,
            events=parts.events,
        )


async def run_service(
    settings: Settings,
    *,
    cluster: Cluster,
    metrics: MetricsSource,
    clock: Clock,
    models: Sequence[Proposer] = (),
    leadership: Leadership | None = None,
    events: EventRecorder | None = None,
    ready: anyio.Event | None = None,
) -> None:
    """What ``serve_assistant`` runs without a transport, without its MCP server: the
    ``Service`` (opening the audit log takes the state-directory lock) asking ``models``,
    until SIGTERM, SIGINT or ``stop()``; ``ready`` is set once it serves."""
    service = Service(
        settings,
        cluster=cluster,
        metrics=metrics,
        clock=clock,
        proposers=[ChangeTriggered(model, settings, clock) for model in models],
        leadership=leadership,
        events=events,
    )
    hand_audit(models, service.audit)
    async with anyio.create_task_group() as group:
        group.start_soon(stop_on_signal, service)
        await service.run(ready=ready)
        group.cancel_scope.cancel()
