"""What the MCP tools work on: the running service's parts.

Layer: edge (the MCP assistant). ``Assistant`` holds the one executor, the poll loop, the
audit log, the approval and snapshot stores (the executor's control stores), the book of
previewed proposals and where ``get_metrics`` finds its series (``claudescale.assistant.
history``: Prometheus range queries, or a small bounded ring in the sandbox). It owns no loop
of its own and never writes to the cluster: every change goes through ``executor.submit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from claudescale.assistant.history import History, NoHistory
from claudescale.assistant.proposals import ProposalBook
from claudescale.config import Settings
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.executor import Executor
from claudescale.engine.poll_loop import Controller
from claudescale.errors import ClusterError, MetricsUnavailable, NotFound
from claudescale.ports import AuditSink, Clock, Cluster, MetricsSource

DEFAULT_CONFIRM_TIMEOUT_S = 120.0


class ReadFailed(Exception):
    """A fresh read for a tool failed; the message is a sentence for the model."""


@dataclass(slots=True)
class Assistant:
    settings: Settings
    cluster: Cluster
    metrics: MetricsSource
    executor: Executor
    controller: Controller
    audit: AuditSink
    audit_path: Path
    clock: Clock
    book: ProposalBook = field(init=False)
    history: History = field(default_factory=NoHistory)
    """Where ``get_metrics`` finds the series (nothing recorded by default)."""
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
