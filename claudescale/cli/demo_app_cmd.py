"""``claudescale demo-app``: the demo workload for a real cluster, and its load.

Layer: edge (CLI). Without ``--load`` it serves the demo app (``claudescale.demo.app``: CPU
per request, so CPU grows with the request rate) until SIGTERM or Ctrl-C; with ``--load URL``
it plays the demo's story as a request rate against that URL
(``claudescale.demo.traffic``) and exits. One image serves both: manifests/demo runs the app
as a Deployment and the load as a Job.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

import anyio

from claudescale.demo.app import DEFAULT_CPU_MS, DEFAULT_PORT, AppSettings, DemoApp
from claudescale.demo.traffic import LoadShape, play
from claudescale.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo-app",
        help="Serve the demo workload (CPU grows with request rate), or load it with --load.",
        description="Serve HTTP on --port; every GET / burns --cpu-ms-per-request of CPU, so "
        "a pod's CPU follows its request rate. With --load URL, send requests to URL at the "
        "demo story's rate (idle, ramp, spike, drain) for --duration seconds instead.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="Address to serve on.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="Port to serve on.")
    parser.add_argument(
        "--cpu-ms-per-request",
        type=float,
        default=DEFAULT_CPU_MS,
        help=f"CPU milliseconds one GET / burns (default {DEFAULT_CPU_MS:g}).",
    )
    parser.add_argument("--load", metavar="URL", default=None, help="Load URL instead of serving.")
    shape = LoadShape()
    parser.add_argument("--duration", type=float, default=shape.duration_s, help="Load seconds.")
    parser.add_argument("--idle-rps", type=float, default=shape.idle_rps, help="Idle req/s.")
    parser.add_argument("--peak-rps", type=float, default=shape.peak_rps, help="Ramp end req/s.")
    parser.add_argument("--spike-rps", type=float, default=shape.spike_rps, help="Spike req/s.")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.load is not None:
        try:
            shape = LoadShape(args.duration, args.idle_rps, args.peak_rps, args.spike_rps)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        counts = anyio.run(play, args.load, shape, sys.stdout)
        return 0 if counts.ok > 0 else 1
    if not args.cpu_ms_per_request >= 0:
        raise ConfigError(f"--cpu-ms-per-request must be 0 or more, not {args.cpu_ms_per_request}.")
    try:
        app = DemoApp(AppSettings(args.host, args.port, args.cpu_ms_per_request))
    except OSError as exc:
        raise ConfigError(f"Cannot serve on {args.host}:{args.port} ({exc.strerror}).") from None
    print(
        f"claudescale demo-app: serving on {args.host}:{app.port}, "
        f"{args.cpu_ms_per_request:g} ms of CPU per GET /.",
        flush=True,
    )
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=app.stop, name="demo-app-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    app.serve_forever()
    print("claudescale demo-app: stopped.", file=sys.stderr, flush=True)
    return 0
