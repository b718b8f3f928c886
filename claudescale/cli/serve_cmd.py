"""``claudescale serve``: the service with an MCP server, for an assistant such as Claude.

Layer: edge (CLI). Reads the settings as ``run`` does, sets up JSON-line logs on stderr (on
stdio, stdout carries nothing but the protocol), connects the adapters, or with ``--sandbox``
an embedded sandbox cluster whose CPU is read straight from the simulation, adds the
provider proposer when ``provider.enabled`` is set, and runs
``claudescale.assistant.serving.serve_assistant`` until the client goes away, SIGTERM or
SIGINT. ``serve_cluster`` is also how ``run`` starts when ``mcp.enabled`` is set. A second
instance on the same state directory refuses to start with one line. The MCP SDK is
imported only when the command runs (every command registers this one).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.kubernetes.coordination import open_coordination
from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.assistant.provider import model_proposers
from claudescale.assistant.sandbox import DEFAULT_SANDBOX_DIR, SandboxMetrics, embedded_sandbox
from claudescale.config import Settings, load_settings
from claudescale.errors import ClaudescaleError
from claudescale.logs import configure_logging
from claudescale.ports import Clock, EventRecorder, Leadership, Proposer

if TYPE_CHECKING:
    from claudescale.assistant.serving import ServeOptions

TRANSPORTS = ("stdio", "http")
"""``claudescale.assistant.serving.Transport``'s values, named here so that registering the
command (which every ``claudescale`` command does) does not import the MCP SDK."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="Run the autoscaler with an MCP server for an assistant (stdio or HTTP).",
        description="Run claudescale (poll loop, executor, approvals) and serve its MCP tools "
        "over stdio (for `claude mcp add`) or streamable HTTP at /mcp. Changes asked for "
        "through the tools are confirmed by the user (MCP elicitation) or out of band with "
        "`claudescale approve`.",
    )
    parser.add_argument("--transport", choices=TRANSPORTS, default="stdio")
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (and CLAUDESCALE_*)."
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="Run against an embedded sandbox cluster (demo/web and demo/api), no Prometheus.",
    )
    parser.add_argument(
        "--sandbox-config", type=Path, default=None, help="Sandbox YAML file (the `sim` format)."
    )
    parser.add_argument(
        "--sandbox-dir",
        type=Path,
        default=DEFAULT_SANDBOX_DIR,
        help="Where the sandbox's kubeconfig, audit log and state go "
        f"(default {DEFAULT_SANDBOX_DIR}).",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="Serve only the tools that change nothing."
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (loopback).")
    parser.add_argument("--port", type=int, default=8765, help="HTTP: port; 0 picks a free one.")
    parser.add_argument(
        "--token-file", type=Path, default=None, help="HTTP: file holding the bearer token."
    )
    parser.add_argument(
        "--token-env", default=None, metavar="VARIABLE", help="HTTP: variable holding the token."
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from claudescale.assistant.http import check_bind, read_token
    from claudescale.assistant.serving import ServeOptions, Transport

    settings = load_settings(args.config)
    transport = Transport(args.transport)
    token = read_token(args.token_file, args.token_env)
    options = ServeOptions(
        transport=transport,
        read_only=args.read_only,
        host=args.host,
        port=args.port,
        token=token,
    )
    if transport is Transport.HTTP:
        check_bind(args.host, token)
    configure_logging(settings.service.log_level)
    with one_error():
        if args.sandbox:
            anyio.run(_main_sandbox, settings, options, args)
        else:
            anyio.run(serve_cluster, settings, options)
    return 0


@contextlib.contextmanager
def one_error() -> Iterator[None]:
    """A ClaudescaleError raised inside the adapters' task groups (the state-directory lock
    held by another process, a bad token) comes out alone, as the one line it is."""
    try:
        yield
    except BaseExceptionGroup as group:
        errors, _ = group.split(ClaudescaleError)
        leaves = _leaves(errors) if errors is not None else []
        if len(leaves) == 1 and _leaves(group) == leaves:
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


@dataclass(frozen=True, slots=True)
class ClusterParts:
    """What ``run`` and ``serve`` open on the configured cluster."""

    clock: Clock
    models: list[Proposer]
    cluster: KubernetesCluster
    metrics: PrometheusMetrics
    leadership: Leadership | None
    events: EventRecorder | None


@contextlib.asynccontextmanager
async def cluster_parts(settings: Settings) -> AsyncIterator[ClusterParts]:
    """The provider proposer when ``provider.enabled``, the Kubernetes adapter (its cache
    running), leader election and Events, and Prometheus; closed in reverse at the end."""
    clock = SystemClock()
    async with (
        model_proposers(settings, clock) as models,
        KubernetesCluster.open(settings.cluster, clock) as cluster,
        open_coordination(cluster, settings.cluster, clock) as coordination,
    ):
        metrics = PrometheusMetrics(settings.prometheus, clock)
        leadership, events = coordination.leadership, coordination.events
        yield ClusterParts(clock, models, cluster, metrics, leadership, events)


async def serve_cluster(settings: Settings, options: ServeOptions) -> None:
    """The service on the configured cluster and Prometheus, its model proposers and MCP
    endpoint (``options``), until stopped: ``serve``, and ``run`` with ``mcp.enabled``."""
    from claudescale.assistant.serving import serve_assistant

    async with cluster_parts(settings) as parts:
        await serve_assistant(
            settings,
            options,
            cluster=parts.cluster,
            metrics=parts.metrics,
            clock=parts.clock,
            proposers=parts.models,
            leadership=parts.leadership,
            events=parts.events,
        )


async def _main_sandbox(
    settings: Settings, options: ServeOptions, args: argparse.Namespace
) -> None:
    from claudescale.assistant.serving import serve_assistant

    clock = SystemClock()
    async with (
        model_proposers(settings, clock) as proposers,
        embedded_sandbox(
            settings,
            clock,
            config_path=args.sandbox_config,
            directory=args.sandbox_dir.expanduser(),
        ) as sandbox,
        KubernetesCluster.open(sandbox.settings.cluster, clock) as cluster,
    ):
        await serve_assistant(
            sandbox.settings,
            options,
            cluster=cluster,
            metrics=SandboxMetrics(sandbox.sim, clock),
            clock=clock,
            proposers=proposers,
        )
