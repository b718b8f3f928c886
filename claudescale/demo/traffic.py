"""``claudescale demo-app --load URL``: the load Job's side, requests to the demo app at a rate
that plays the demo's story (idle, ramp, spike, drain) over a duration.

Layer: edge (HTTP out; standard library and anyio only, so it runs from the product image).
The shape uses the sandbox demo's phase timings (``claudescale.demo.plan``), so the real
cluster sees the same story as ``make demo``. The load is open-loop, as real users are: a
request is sent when it is due whatever happened to the earlier ones; when ``max_in_flight``
requests are already waiting, a due request is counted as dropped instead of queued (a
slow app must not make the load lighter). It must not talk to the Kubernetes API.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TextIO

import anyio
import anyio.to_thread

from claudescale.demo.plan import DRAIN_FRACTION, PHASES, RAMP_FRACTION

TICK_S = 0.05
REPORT_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class LoadShape:
    duration_s: float = 1800.0
    idle_rps: float = 3.0
    peak_rps: float = 20.0
    """Where the ramp ends."""
    spike_rps: float = 25.0
    request_timeout_s: float = 10.0
    max_in_flight: int = 64

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"The load needs a positive duration, not {self.duration_s:g} s.")
        for name in ("idle_rps", "peak_rps", "spike_rps"):
            rate = getattr(self, name)
            if not (math.isfinite(rate) and rate >= 0):
                raise ValueError(f"{name} must be a rate of 0 or more, not {rate:g}.")

    def rate_at(self, elapsed_s: float) -> float:
        """Requests per second ``elapsed_s`` into the load: the demo's story as a rate."""
        starts = {phase: fraction * self.duration_s for phase, fraction in PHASES}
        ramp_s, drain_s = RAMP_FRACTION * self.duration_s, DRAIN_FRACTION * self.duration_s
        if elapsed_s < starts["ramp"]:
            return self.idle_rps
        if elapsed_s < starts["spike"]:
            done = min(1.0, (elapsed_s - starts["ramp"]) / ramp_s)
            return self.idle_rps + done * (self.peak_rps - self.idle_rps)
        if elapsed_s < starts["drain"]:
            return self.spike_rps
        done = min(1.0, (elapsed_s - starts["drain"]) / drain_s)
        return self.spike_rps + done * (self.idle_rps - self.spike_rps)

    def phase_at(self, elapsed_s: float) -> str:
        current = PHASES[0][0]
        for phase, fraction in PHASES:
            if elapsed_s >= fraction * self.duration_s:
                current = phase
        return current


@dataclass(slots=True)
class LoadCounts:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    in_flight: int = 0


def _get(url: str, timeout_s: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            response.read()
            return bool(200 <= response.status < 300)
    except (OSError, urllib.error.URLError):
        return False


async def play(url: str, shape: LoadShape, out: TextIO) -> LoadCounts:
    """Send the story's requests to ``url`` for ``shape.duration_s`` seconds."""
    counts = LoadCounts()
    started = anyio.current_time()
    due = 0.0
    last_report = -REPORT_EVERY_S

    async def one() -> None:
        try:
            # A thread each: the in-flight bound, not anyio's shared pool, limits them.
            ok = await anyio.to_thread.run_sync(
                _get, url, shape.request_timeout_s, limiter=anyio.CapacityLimiter(1)
            )
        finally:
            counts.in_flight -= 1
        if ok:
            counts.ok += 1
        else:
            counts.failed += 1

    print(f"claudescale demo-app: loading {url} for {shape.duration_s:g} s.", file=out, flush=True)
    async with anyio.create_task_group() as tg:
        while (elapsed_s := anyio.current_time() - started) < shape.duration_s:
            due += shape.rate_at(elapsed_s) * TICK_S
            while due >= 1.0:
                due -= 1.0
                if counts.in_flight >= shape.max_in_flight:
                    counts.dropped += 1
                    continue
                counts.sent += 1
                counts.in_flight += 1
                tg.start_soon(one)
            if elapsed_s - last_report >= REPORT_EVERY_S:
                last_report = elapsed_s
                print(_progress(shape, elapsed_s, counts), file=out, flush=True)
            await anyio.sleep(TICK_S)
    print(_progress(shape, shape.duration_s, counts), file=out, flush=True)
    return counts


def _progress(shape: LoadShape, elapsed_s: float, counts: LoadCounts) -> str:
    return (
        f"{elapsed_s:7.1f} s  phase {shape.phase_at(elapsed_s):<5} "
        f"{shape.rate_at(elapsed_s):6.1f} req/s  sent {counts.sent}, ok {counts.ok}, "
        f"failed {counts.failed}, dropped {counts.dropped}"
    )
