"""``claudescale run --config FILE``: the autoscaler service in the foreground.

Layer: edge (CLI). Reads the settings (file and ``CLAUDESCALE_*``), sets up JSON-line logs on
stderr and runs the same assembly as ``serve`` (``claudescale.cli.serve_cmd.serve_cluster``):
the Kubernetes adapter (its workload cache runs while open), the Prometheus adapter, the
provider proposer when ``provider.enabled`` is set, and the MCP tools over streamable HTTP at
``/mcp`` when ``mcp.enabled`` is set (a bind that is not loopback needs ``mcp.token_file``
or ``mcp.token_env``), until SIGTERM or SIGINT; exits 0 after a clean shutdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

from claudescale.assistant.serving import options_for_run
from claudescale.cli.serve_cmd import one_error, serve_cluster
from claudescale.config import load_settings
from claudescale.logs import configure_logging


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
    options = options_for_run(settings)  # a bad MCP bind or token refuses before anything
    configure_logging(settings.service.log_level)
    with one_error():
        anyio.run(serve_cluster, settings, options)
    return 0
