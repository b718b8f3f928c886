"""``claudescale serve``: the service with an MCP server, for an assistant such as Claude.

Layer: edge (CLI). Reads the settings as ``run`` does, sets up JSON-line logs on stderr (on
stdio, stdout carries nothing but the protocol), connects the adapters, or with ``--sandbox``
an embedded sandbox cluster whose CPU is read straight from the simulation, adds the
provider proposer when ``provider.enabled`` is set, and runs
``claudescale.assistant.serving.serve_assistant`` until the client goes away, SIGTERM or
SIGINT. A second instance on the same state directory refuses to start with one line.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

import anyio

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.assistant.http import check_bind, read_token
from claudescale.assistant.provider import ProviderProposer
from claudescale.assistant.sandbox import DEFAULT_SANDBOX_DIR, SandboxMetrics, embedded_sandbox
from claudescale.assistant.serving import ServeOptions, Transport, serve_assistant
from claudescale.config import Settings, load_settings
from claudescale.logs import configure_logging
from claudescale.ports import MetricsSource, Proposer


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="Run the autoscaler with an MCP server for an assistant (stdio or HTTP).",
        description="Run claudescale (poll loop, executor, approvals) and serve its MCP tools "
        "over stdio (for `claude mcp add`) or streamable HTTP at /mcp. Changes asked for "
        "through the tools are confirmed by the user (MCP elicitation) or out of band with "
        "`claudescale approve`.",
    )
    parser.add_argument("--transport", choices=[t.value for t in Transport], default="stdio")
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
    anyio.run(_main, settings, options, args)
    return 0


async def _main(settings: Settings, options: ServeOptions, args: argparse.Namespace) -> None:
    clock = SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        proposers: list[Proposer] = []
        if settings.provider.enabled:
            proposers.append(await stack.enter_async_context(ProviderProposer(settings, clock)))
        if not args.sandbox:
            cluster = await stack.enter_async_context(
                await KubernetesCluster.connect(settings.cluster, clock)
            )
            metrics: MetricsSource = PrometheusMetrics(settings.prometheus, clock)
            await serve_assistant(
                settings,
                options,
                cluster=cluster,
                metrics=metrics,
                clock=clock,
                proposers=proposers,
            )
            return
        sandbox = await stack.enter_async_context(
            embedded_sandbox(
                settings,
                clock,
                config_path=args.sandbox_config,
                directory=args.sandbox_dir.expanduser(),
            )
        )
        pointed = sandbox.settings
        cluster = await stack.enter_async_context(
            await KubernetesCluster.connect(pointed.cluster, clock)
        )
        await serve_assistant(
            pointed,
            options,
            cluster=cluster,
            metrics=SandboxMetrics(sandbox.sim, clock),
            clock=clock,
            proposers=proposers,
        )
