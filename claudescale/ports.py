"""Protocols the orchestration (executor, controller, service) depends on.

Adapters implement them; tests and replay implement them in memory. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from claudescale.core.values import CpuReading, Proposal, WorkloadRef, WorkloadState


class Clock(Protocol):
    """Time, injected so that every timing rule is testable without sleeping."""

    epoch: str
    """Identifies the monotonic clock's origin (the boot); readings from another epoch are
    not comparable with ``now()``."""

    def now(self) -> float:
        """Monotonic seconds. Cooldowns use only this clock."""
        ...

    def wall(self) -> float:
        """Unix time in seconds, for records and humans; may jump."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep; cancellable."""
        ...


class Cluster(Protocol):
    """The Kubernetes API as the product needs it. Errors are ``claudescale.errors`` types."""

    async def list_workloads(self) -> Sequence[WorkloadState]:
        """All managed workloads (opted in, in configured namespaces), freshly read."""
        ...

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        """One workload, freshly read. Raises NotFound when it is gone."""
        ...

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        """Set replicas through the scale subresource, only if the object is still at
        ``resource_version``. Returns the new resourceVersion.
        Raises Conflict (409), NotFound, Forbidden or Unavailable."""
        ...


class MetricsSource(Protocol):
    """CPU utilisation per workload, in percent of requests over ready pods."""

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        """One reading per workload asked about (missing data is a reading, not an absence).
        Raises MetricsUnavailable when the metrics system itself cannot be reached."""
        ...


class Proposer(Protocol):
    """Something that turns a situational summary into proposals (model or rules)."""

    name: str

    async def propose(self, situation: Sequence[Mapping[str, Any]]) -> Sequence[Proposal]: ...


class AuditSink(Protocol):
    """Append-only, hash-chained record of every decision."""

    def append(self, kind: str, fields: Mapping[str, Any], *, durable: bool = False) -> int:
        """Append one record; returns its sequence number. ``durable`` fsyncs before
        returning (used for intents, before any cluster write)."""
        ...
