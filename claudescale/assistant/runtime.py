"""What the MCP tools work on: the running service's parts, and a short memory of readings.

Layer: edge (the MCP assistant). ``Assistant`` holds the one executor, the poll loop, the
audit log, the approval and snapshot stores (the executor's control stores), the book of
previewed proposals and the recent CPU series. It owns no loop of its own and never writes to
the cluster: every change goes through ``executor.submit``. ``RecordingMetrics`` wraps the
service's MetricsSource and keeps the last readings per workload, which ``get_metrics``
serves (the same numbers the loop and the executor saw, without extra Prometheus queries).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from claudescale.assistant.proposals import ProposalBook
from claudescale.config import Settings
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.executor import Executor
from claudescale.engine.poll_loop import Controller
from claudescale.errors import ClusterError, MetricsUnavailable, NotFound
from claudescale.ports import AuditSink, Clock, Cluster, MetricsSource, Probe

SERIES_POINTS = 720
"""Readings kept per workload (an hour at one reading every 5 s)."""
DEFAULT_CONFIRM_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Point:
    at: float
    """Wall time, Unix seconds."""
    cpu_percent: float | None
    replicas: int


class RecordingMetrics:
    """A MetricsSource that remembers what it answered, per workload (bounded)."""

    def __init__(self, inner: MetricsSource, clock: Clock, points: int = SERIES_POINTS) -> None:
        self._inner = inner
        self._clock = clock
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

    async def probe(self) -> None:
        """``ports.Probe``, passed on to the wrapped source (which answers when it has none)."""
        if isinstance(self._inner, Probe):
            await self._inner.probe()

    def series(self, ref: WorkloadRef, since: float) -> list[Point]:
        return [p for p in self._series.get(ref, ()) if p.at >= since]


class ReadFailed(Exception):
    """A fresh read for a tool failed; the message is a sentence for the model."""


@dataclass(slots=True)
class Assistant:
    settings: Settings
    cluster: Cluster
    metrics: RecordingMetrics
    executor: Executor
    controller: Controller
    audit: AuditSink
    audit_path: Path
    clock: Clock
    book: ProposalBook = field(init=False)
    confirm_timeout_s: float = DEFAULT_CONFIRM_TIMEOUT_S
    """How long a handshake-era confirmation may wait for the user's answer."""

    def __post_init__(self) -> None:
        self.book = ProposalBook(self.clock)

    def kill_switch_on(self) -> bool:
        return (
            self.settings.approvals.kill_switch or self.executor.control.kill_switch_file.exists()
        )

    async def read(self, ref: WorkloadRef) -> WorkloadState:
        """A fresh read of one workload; NotFound when it does not exist."""
        try:
            with anyio.fail_after(self.settings.cluster.read_timeout_s):
                return await self.cluster.read_workload(ref)
        except NotFound:
            raise
        except (ClusterError, TimeoutError) as exc:
            raise ReadFailed(f"Could not read {ref} ({exc}); nothing was changed.") from exc

    async def read_all(self) -> list[WorkloadState]:
        try:
            with anyio.fail_after(self.settings.loop.list_timeout_s):
                return [s for s in await self.cluster.list_workloads() if s.managed]
        except (ClusterError, TimeoutError) as exc:
            raise ReadFailed(f"Could not list the managed workloads ({exc}).") from exc

    async def cpu(self, states: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        """Readings for ``states``; empty when the metrics cannot be read now."""
        try:
            with anyio.fail_after(self.settings.prometheus.query_timeout_s):
                return await self.metrics.cpu(states)
        except (MetricsUnavailable, TimeoutError):
            return {}
