"""``make demo-load``: drive the load of a demo that is already running, over its sandbox's
control endpoint (``POST /sim/v1/load``).

Layer: edge (HTTP to loopback). The running demo is found through ``demo-output/current.json``
(or an explicit URL). One phase sets it at once; no phase plays the demo's whole schedule
(idle, ramp, spike, drain) at the running demo's timings, starting now.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.to_thread

from claudescale.core.values import WorkloadRef
from claudescale.demo.files import CURRENT
from claudescale.demo.plan import DemoPlan
from claudescale.errors import ClaudescaleError

REQUEST_TIMEOUT_S = 5.0


class DemoNotRunning(ClaudescaleError):
    """No running demo could be found or reached."""


def running_demo(output: Path) -> dict[str, Any]:
    """What the running demo wrote about itself; DemoNotRunning when there is none."""
    path = output / CURRENT
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoNotRunning(
            f"No demo is running ({path} does not exist); start one with `make demo`."
        ) from None
    except (OSError, ValueError) as exc:
        raise DemoNotRunning(f"{path} cannot be read ({exc}).") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sandbox_url"), str):
        raise DemoNotRunning(f"{path} does not name a sandbox URL.")
    return data


def set_phase(sandbox_url: str, workload: WorkloadRef, phase: str) -> dict[str, Any]:
    """Switch a workload's load phase; blocking, bounded by REQUEST_TIMEOUT_S."""
    body = json.dumps({"namespace": workload.namespace, "name": workload.name, "phase": phase})
    request = urllib.request.Request(
        f"{sandbox_url}/sim/v1/load",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise DemoNotRunning(
            f"The sandbox at {sandbox_url} refused phase {phase!r} for {workload}: {detail}"
        ) from exc
    except (OSError, urllib.error.URLError) as exc:
        raise DemoNotRunning(
            f"The demo's sandbox at {sandbox_url} cannot be reached ({exc}); is the demo "
            "still running?"
        ) from exc


async def drive(
    sandbox_url: str, workload: WorkloadRef, phase: str | None, plan: DemoPlan, out: TextIO
) -> None:
    """Set one phase, or play the whole schedule at ``plan``'s timings from now."""
    steps = ((0.0, phase),) if phase is not None else plan.schedule()
    started = anyio.current_time()
    for at_s, name in steps:
        await anyio.sleep(max(0.0, started + at_s - anyio.current_time()))
        answer = await anyio.to_thread.run_sync(set_phase, sandbox_url, workload, name)
        print(
            f"{at_s:6.1f} s  {workload} is now in phase {answer.get('phase', name)} "
            f"({float(answer.get('demand_cores', 0.0)):.2f} cores).",
            file=out,
            flush=True,
        )
