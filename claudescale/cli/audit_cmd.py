"""``claudescale audit verify``: check the audit log's hash chain and say where it breaks.

Layer: edge. Reads settings only to find the log; never writes to it. The ``audit`` group is
built so that later actions (``list``, ``export``) add one ``_add_<action>`` each and share
the log options.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from claudescale.audit import verify
from claudescale.config import load_settings

EXIT_OK = 0
EXIT_BROKEN = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="Check and read the audit log.")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    _add_verify(actions)


def _log_options() -> argparse.ArgumentParser:
    """Options every audit action takes to find the log."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--path",
        type=Path,
        default=None,
        help="The audit log (its newest file); default: the settings' audit.path.",
    )
    options.add_argument(
        "--config", type=Path, default=None, help="YAML settings file to read audit.path from."
    )
    return options


def _add_verify(actions: Any) -> None:
    verify_parser = actions.add_parser(
        "verify",
        parents=[_log_options()],
        help="Check every record's hash and the chain across all files; exit 1 naming the "
        "first bad file, line and seq.",
    )
    verify_parser.set_defaults(handler=_verify)


def log_path(args: argparse.Namespace) -> Path:
    """The log named by ``--path``, else by the settings (``--config`` and the environment)."""
    if args.path is not None:
        path: Path = args.path
        return path
    return load_settings(args.config).audit.path


def _verify(args: argparse.Namespace) -> int:
    result = verify(log_path(args))
    print(result.message)
    return EXIT_OK if result.ok else EXIT_BROKEN
