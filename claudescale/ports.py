"""Protocols the orchestration (executor, controller, service) depends on.

Adapters implement them; tests and replay implement them in memory. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import (
    CpuReading,
    History,
    Proposal,
    Verdict,
    WorkloadRef,
    WorkloadState,
)


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
        """All managed workloads (opted in, in configured namespaces), freshly read or from
        a watched cache; never older than the adapter's staleness bound (else Unavailable)."""
        ...

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        """One workload, freshly read. Raises NotFound when it is gone."""
        ...

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        """Set replicas through the scale subresource, only if the object is still at
        ``resource_version``. Returns the new resourceVersion.
        Raises Conflict (409), NotFound, Forbidden or Unavailable."""
        ...


@runtime_checkable
class ChangeFeed(Protocol):
    """A Cluster that watches: it can say at once that someone else changed a workload."""

    def subscribe(self, callback: Callable[[WorkloadRef], None]) -> None:
        """Call ``callback(ref)`` when a managed workload's replicas change by another hand,
        or it appears or goes. Called in the event loop; must not block."""
        ...


@runtime_checkable
class Probe(Protocol):
    """A Cluster or MetricsSource that can say cheaply whether it answers again (optional:
    without it, a blind loop just retries its full cycle when its back-off ends)."""

    async def probe(self) -> None:
        """Return when the dependency answers now; raise what its port raises otherwise
        (ClusterError, MetricsUnavailable). Cheap: no per-workload work."""
        ...


class MetricsSource(Protocol):
    """CPU utilisation per workload, in percent of requests over ready pods."""

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        """One reading per workload asked about (missing data is a reading, not an absence).
        Raises MetricsUnavailable when the metrics system itself cannot be reached."""
        ...


class Proposer(Protocol):
    """Something that turns this cycle's situations into proposals (model or rules).

    At most one proposal per workload asked about; a model proposer renders the situations
    with ``claudescale.core.prompt`` and parses its reply with ``claudescale.core.replies``.
    """

    name: str

    async def propose(self, situations: Sequence[WorkloadSituation]) -> Sequence[Proposal]: ...


class AuditSink(Protocol):
    """Append-only, hash-chained record of every decision."""

    def append(self, kind: str, fields: Mapping[str, Any], *, durable: bool = False) -> int:
        """Append one record; returns its sequence number. ``durable`` fsyncs before
        returning (used for intents, before any cluster write)."""
        ...


class Leadership(Protocol):
    """Leader election across replicas: only the leader's executor writes."""

    def may_write(self) -> bool:
        """True only while this replica holds the lease and renewed it within the renew
        deadline, which ends before anyone else may take the lease over. Asked right before
        every write; must not block."""
        ...


class EventRecorder(Protocol):
    """Kubernetes Events on a workload that explain the executor's verdicts."""

    def record(self, ref: WorkloadRef, verdict: Verdict) -> None:
        """Note one verdict; returns at once (best effort: bounded, never blocks the
        executor, failures are the recorder's to log)."""
        ...


class ScaleExecutor(Protocol):
    """The poll loop's one narrow interface to the executor (``engine.executor.Executor``)."""

    async def submit(self, proposal: Proposal) -> Verdict:
        """Queue a proposal and wait for the executor's verdict."""
        ...

    def history(self, ref: WorkloadRef) -> History:
        """The executor's memory of a workload (cooldowns, external changes); read only."""
        ...

    def observe(self, states: Iterable[WorkloadState], read_started_at: float) -> None:
        """Hand over the loop's fresh read, so replica changes nobody here made are noted."""
        ...

    def forget(self, ref: WorkloadRef) -> None:
        """Drop the memory of a workload that went away, once none of it still matters."""
        ...

    async def process_approvals(self) -> Sequence[Verdict]:
        """Carry out the changes people approved since the last cycle."""
        ...
