"""Entry point: builds the argument parser from the command modules and dispatches.

Each command module has ``register(subparsers)``, which adds its parser and sets
``handler`` (a function taking the parsed namespace and returning an exit status).
Errors the user can fix are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Sequence

from claudescale import __version__
from claudescale.core.text import printable
from claudescale.errors import ClaudescaleError

COMMAND_MODULES = (
    "claudescale.cli.config_cmd",
    "claudescale.cli.replay_cmd",
    "claudescale.cli.audit_cmd",
    "claudescale.cli.sim_cmd",
    "claudescale.cli.approvals_cmd",
    "claudescale.cli.snapshots_cmd",
    "claudescale.cli.override_cmd",
    "claudescale.cli.status_cmd",
    "claudescale.cli.stops_cmd",
    "claudescale.cli.run_cmd",
    "claudescale.cli.serve_cmd",
    "claudescale.cli.demo_cmd",
    "claudescale.cli.demo_app_cmd",
)

EXIT_USAGE = 2
EXIT_CLOSED_PIPE = 141
"""128 + SIGPIPE, what a shell reports for a tool whose reader went away."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claudescale",
        description=(
            "An autoscaler for Kubernetes Deployments in which a language model proposes "
            "and guarded, audited code disposes."
        ),
    )
    parser.add_argument("--version", action="version", version=f"claudescale {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except ClaudescaleError as exc:
        print(printable(f"claudescale: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    except BaseExceptionGroup as group:  # the same, raised inside an anyio task group
        _, rest = group.split(BrokenPipeError)
        if rest is not None:
            raise
        return _closed_pipe()
    return status


def _closed_pipe() -> int:
    """Whoever read our output stopped (``| head``): end quietly, as a tool killed by SIGPIPE
    would, with nothing left for the interpreter to flush into the closed pipe at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # stdout is not a file descriptor (captured in-process): nothing to flush
    return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
