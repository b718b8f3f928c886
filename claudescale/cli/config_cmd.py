"""``claudescale config check FILE`` and ``claudescale config show``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from claudescale.config import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="Validate or show settings.")
    commands = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    check = commands.add_parser(
        "check",
        help="Validate a settings file (and CLAUDESCALE_* variables); exit 2 naming a bad key.",
    )
    check.add_argument("file", type=Path, help="YAML settings file.")
    check.set_defaults(handler=_check)

    show = commands.add_parser("show", help="Print the effective settings as YAML.")
    show.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML settings file (default: $CLAUDESCALE_CONFIG).",
    )
    show.set_defaults(handler=_show)


def _check(args: argparse.Namespace) -> int:
    load_settings(args.file)
    print(f"{args.file}: settings are valid.")
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    yaml.safe_dump(settings.model_dump(mode="json"), sys.stdout, sort_keys=False)
    return 0
