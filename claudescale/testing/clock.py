"""A clock that moves only when told, for tests and replay (``claudescale.ports.Clock``).

Layer: testing (public). It never reads real time.
"""

from __future__ import annotations

import anyio


class ManualClock:
    """A clock that moves only when told. ``sleep`` advances it instantly."""

    def __init__(
        self, start: float = 1000.0, wall_start: float = 1_800_000_000.0, epoch: str = "manual"
    ) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self.epoch = epoch

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("The monotonic clock cannot go backwards.")
        self._now += seconds

    def jump_wall(self, seconds: float) -> None:
        """Move only the wall clock (an NTP step, a VM resume); monotonic time is untouched."""
        self._wall_offset += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()
