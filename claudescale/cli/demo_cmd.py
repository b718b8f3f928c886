"""``claudescale demo`` and ``claudescale demo-load``: the self-contained demonstration.

Layer: edge (CLI). ``demo`` starts the sandbox, a real Prometheus and claudescale in
autonomous mode, plays the load phases, shows a live view, draws report.png from the
dashboard's queries and prints a summary computed from the audit log; ``demo-load`` drives the
load of a demo that is already running.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio

from claudescale.core.values import WorkloadRef
from claudescale.demo.load import drive, running_demo
from claudescale.demo.plan import DEFAULT_DURATION_S, LOADED, NAMESPACE, PHASES, DemoPlan
from claudescale.demo.runner import DemoOptions, run_demo
from claudescale.demo.summary import render_summary
from claudescale.errors import ConfigError

DEFAULT_OUTPUT = Path("demo-output")


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="Watch claudescale scale the sandbox under load (Prometheus required).",
        description="Start the sandbox cluster, Prometheus on a free loopback port and "
        "claudescale in autonomous mode for namespace demo; play idle, ramp, spike and drain "
        "on demo/web; show a live view; end with report.png drawn from the dashboard's own "
        "queries, Prometheus graph links for them, and a summary from the audit log. The "
        "sandbox enforces the Roles in manifests/ as written.",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION_S,
        help=f"Seconds the demo runs (default {DEFAULT_DURATION_S:g}).",
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=None,
        help="Divide every product timing (cooldowns, pod start-up) by this; default: what "
        "fits the story in --duration. The view says what it is.",
    )
    demo.add_argument(
        "--no-view", action="store_true", help="Print events as lines instead of a live view."
    )
    demo.add_argument(
        "--no-load",
        action="store_true",
        help="Do not play the load phases (drive them with `make demo-load`).",
    )
    demo.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Run directory root.")
    demo.set_defaults(handler=_demo)

    load = subparsers.add_parser(
        "demo-load",
        help="Drive the load phases of a running demo.",
        description="Set one load phase of a running demo's workload, or without a phase play "
        "idle, ramp, spike and drain at the demo's timings.",
    )
    load.add_argument("phase", nargs="?", choices=[p for p, _ in PHASES], default=None)
    load.add_argument("--workload", default=f"{NAMESPACE}/{LOADED}", help="namespace/name")
    load.add_argument("--url", default=None, help="Sandbox URL (default: the running demo's).")
    load.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Run directory root.")
    load.set_defaults(handler=_demo_load)


def _demo(args: argparse.Namespace) -> int:
    options = DemoOptions(
        duration_s=args.duration,
        speed=args.speed,
        view=not args.no_view and sys.stdout.isatty(),
        play_load=not args.no_load,
        output=args.output,
    )
    try:
        DemoPlan.make(options.duration_s, options.speed)
    except ValueError as exc:
        print(f"claudescale: {exc}", file=sys.stderr)
        return 2
    summary = anyio.run(run_demo, options, sys.stdout)
    print(render_summary(summary), flush=True)
    return 0 if summary.verified else 1


def _demo_load(args: argparse.Namespace) -> int:
    try:
        workload = WorkloadRef.parse(args.workload)
    except ValueError as exc:
        raise ConfigError(f"--workload: {exc}") from None
    if args.url is not None:
        url, plan = args.url, DemoPlan.make()
    else:
        current = running_demo(args.output)
        url = current["sandbox_url"]
        plan = DemoPlan.make(float(current["duration_s"]), float(current["speed"]))
    anyio.run(drive, url, workload, args.phase, plan, sys.stdout)
    return 0
