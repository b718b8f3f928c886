"""The system clock the service runs on (``claudescale.ports.Clock``).

Layer: adapter (the operating system's clocks). Tests and replay use
``claudescale.testing.clock.ManualClock`` instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"process-{time.time_ns()}"


class SystemClock:
    """Real time. The monotonic clock is CLOCK_MONOTONIC, comparable within one boot."""

    def __init__(self) -> None:
        self.epoch = _boot_id()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
