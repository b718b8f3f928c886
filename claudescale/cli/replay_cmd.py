"""``claudescale replay FILE``: run a scenario through the real executor and guardrails."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import orjson

from claudescale.replay.runner import ReplayRun
from claudescale.replay.scenario import load_scenario

HELP = """\
Run a scripted timeline (YAML) through the real executor and guardrails with a fake clock
and an in-memory cluster. Prints one JSON line per proposal:
{"t": 0, "outcome": "executed"|"blocked"|"held", "code": "ok"|<code>, "replicas": 4}.
Exit status 0 for a valid file, 2 with a one-line error naming the bad key otherwise.
See examples/replay-cooldowns.yaml and the README for the format."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="What-if: run a scenario file through the real guardrails.",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, help="Scenario YAML file.")
    parser.add_argument(
        "--explain", action="store_true", help='Add each verdict\'s sentence as "message".'
    )
    parser.add_argument(
        "--audit",
        type=Path,
        default=None,
        help="Keep the replay's audit log at this path (default: a temporary directory).",
    )
    parser.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)

    def emit(line: dict[str, Any]) -> None:
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
        sys.stdout.flush()

    if args.audit is not None:
        args.audit.parent.mkdir(parents=True, exist_ok=True)
        anyio.run(ReplayRun(scenario, args.audit, explain=args.explain).run, emit)
        return 0
    with tempfile.TemporaryDirectory(prefix="claudescale-replay-") as tmp:
        run = ReplayRun(scenario, Path(tmp) / "audit.jsonl", explain=args.explain)
        anyio.run(run.run, emit)
    return 0
