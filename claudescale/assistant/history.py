"""Where ``get_metrics`` finds a workload's recent CPU and replica series, in bounded memory.

Layer: edge (the MCP assistant). Three sources, chosen once by ``history_for`` when the
service is assembled:

- ``PrometheusHistory`` (``run`` and ``serve`` on a real cluster): CPU from a Prometheus range
  query (``PrometheusMetrics.cpu_series``), replicas from claudescale's own ``/metrics`` gauge
  when Prometheus scrapes it, else from ``RecentReplicas``, which remembers only the last
  ``REPLICA_CHANGES`` replica changes per workload (a few dozen bytes each).
- ``RecordingMetrics`` (``serve --sandbox``, no Prometheus): a ring of at most
  ``SANDBOX_POINTS`` readings per workload.
- ``NoHistory``: no MCP endpoint, nothing recorded at all.

None of them queries or writes the cluster; a Prometheus failure reaches the caller as
MetricsUnavailable.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.errors import MetricsUnavailable
from claudescale.ports import Clock, MetricsSource, Probe

SANDBOX_POINTS = 120
"""Readings kept per workload by the sandbox ring (ten minutes at one reading every 5 s)."""
REPLICA_CHANGES = 16
"""Replica changes kept per workload when Prometheus does not scrape claudescale."""
MAX_POINTS = 120
"""Most points one range query asks for; the step grows with the window."""
MIN_STEP_S = 5.0


@dataclass(frozen=True, slots=True)
class Point:
    at: float
    """Wall time, Unix seconds."""
    cpu_percent: float | None
    replicas: int


class History(Protocol):
    async def series(self, state: WorkloadState, window_s: float) -> list[Point]:
        """Oldest first, over the last ``window_s``; MetricsUnavailable when unreadable."""
        ...


@runtime_checkable
class SeriesSource(Protocol):
    """What ``PrometheusMetrics`` offers beside ``cpu``: range queries."""

    async def cpu_series(
        self, state: WorkloadState, window_s: float, step_s: float
    ) -> list[tuple[float, float | None]]: ...

    async def replica_series(
        self, ref: WorkloadRef, window_s: float, step_s: float
    ) -> list[tuple[float, int]]: ...


class NoHistory:
    """No MCP endpoint: nothing is recorded, and nothing is served."""

    async def series(self, state: WorkloadState, window_s: float) -> list[Point]:
        return []


class _Wrapped:
    def __init__(self, inner: MetricsSource, clock: Clock) -> None:
        self._inner = inner
        self._clock = clock

    async def probe(self) -> None:
        """``ports.Probe``, passed on to the wrapped source (which answers when it has none)."""
        if isinstance(self._inner, Probe):
            await self._inner.probe()


class RecordingMetrics(_Wrapped):
    """A MetricsSource that remembers its last ``points`` answers per workload."""

    def __init__(self, inner: MetricsSource, clock: Clock, points: int = SANDBOX_POINTS) -> None:
        super().__init__(inner, clock)
        self._points = points
        self._series: dict[WorkloadRef, deque[Point]] = {}

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        readings = await self._inner.cpu(workloads)
        wall = self._clock.wall()
        for state in workloads:
            reading = readings.get(state.ref)
            percent = reading.percent if reading is not None and reading.is_finite else None
            series = self._series.setdefault(state.ref, deque(maxlen=self._points))
            series.append(Point(wall, percent, state.replicas))
        return readings

    def held(self, ref: WorkloadRef) -> int:
        """How many readings are kept for ``ref``."""
        return len(self._series.get(ref, ()))

    async def series(self, state: WorkloadState, window_s: float) -> list[Point]:
        since = self._clock.wall() - window_s
        return [p for p in self._series.get(state.ref, ()) if p.at >= since]


class RecentReplicas(_Wrapped):
    """A MetricsSource that remembers each workload's last ``changes`` replica changes."""

    def __init__(self, inner: MetricsSource, clock: Clock, changes: int = REPLICA_CHANGES) -> None:
        super().__init__(inner, clock)
        self._changes = changes
        self._seen: dict[WorkloadRef, deque[tuple[float, int]]] = {}

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        readings = await self._inner.cpu(workloads)
        wall = self._clock.wall()
        for state in workloads:
            seen = self._seen.setdefault(state.ref, deque(maxlen=self._changes))
            if not seen or seen[-1][1] != state.replicas:
                seen.append((wall, state.replicas))
        return readings

    def held(self, ref: WorkloadRef) -> int:
        return len(self._seen.get(ref, ()))

    def at(self, ref: WorkloadRef, wall_s: float, now: int) -> int:
        """Replicas at ``wall_s``: the last change at or before it; the oldest known value
        before the first one kept; ``now`` when none is known."""
        seen = self._seen.get(ref)
        if not seen:
            return now
        index = bisect.bisect_right([at for at, _ in seen], wall_s)
        return seen[max(index - 1, 0)][1]


class PrometheusHistory:
    """CPU from Prometheus range queries; replicas from its scrape of claudescale's gauge,
    or from the loop's recent replica changes when it has none."""

    def __init__(self, source: SeriesSource, replicas: RecentReplicas) -> None:
        self._source = source
        self._replicas = replicas

    async def series(self, state: WorkloadState, window_s: float) -> list[Point]:
        step_s = max(MIN_STEP_S, window_s / MAX_POINTS)
        cpu = await self._source.cpu_series(state, window_s, step_s)
        try:
            scraped = dict(await self._source.replica_series(state.ref, window_s, step_s))
        except MetricsUnavailable:
            scraped = {}
        return [
            Point(
                at,
                percent,
                scraped.get(at, self._replicas.at(state.ref, at, state.replicas)),
            )
            for at, percent in cpu
        ]


def history_for(
    metrics: MetricsSource, clock: Clock, *, enabled: bool
) -> tuple[MetricsSource, History]:
    """The MetricsSource the service should use and the history ``get_metrics`` serves:
    nothing recorded unless ``enabled`` (an MCP endpoint is served); range queries when
    ``metrics`` offers them; else the sandbox ring."""
    if not enabled:
        return metrics, NoHistory()
    if isinstance(metrics, SeriesSource):
        replicas = RecentReplicas(metrics, clock)
        return replicas, PrometheusHistory(metrics, replicas)
    recording = RecordingMetrics(metrics, clock)
    return recording, recording
