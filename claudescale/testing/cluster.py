"""A scripted, in-memory cluster and metrics source for replay and tests.

Layer: adapter (an in-memory implementation of the Cluster and MetricsSource ports). It keeps
one Deployment per workload with a resourceVersion that moves on every write, answers writes
with the precondition a real API server enforces, and reports whatever CPU the script says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from claudescale.core.utilisation import PodSample, measure
from claudescale.core.values import CpuReading, PodState, WorkloadRef, WorkloadState
from claudescale.errors import ClusterError, Conflict, NotFound, Unavailable
from claudescale.ports import Clock

REQUEST_CORES = 1.0
"""Scripted pods request one core each, so a pod's cpu percentage is its usage in cores."""


@dataclass(slots=True)
class ScriptedPod:
    ready: bool = True
    terminating: bool = False
    cpu_percent: float | None = None


@dataclass(slots=True)
class ScriptedWorkload:
    ref: WorkloadRef
    replicas: int
    uid: str
    resource_version: int = 1
    paused: bool = False
    owner: str | None = None
    rollout_in_progress: bool = False
    deleted: bool = False
    pods: list[ScriptedPod] | None = None
    """Explicit pods; None means one ready pod per replica, all at ``cpu_percent``."""
    cpu_percent: float | None = None
    cpu_age_s: float = 0.0
    fail_next_write: int | None = None
    writes: list[tuple[int, int]] = field(default_factory=list)
    scaled_by_us_at_wall: float | None = None
    """Our field manager's ``managedFields`` time (whole seconds), as an API server keeps it;
    someone else's replica change takes the field over and drops it."""


class ScriptedCluster:
    """Implements ``Cluster`` and ``MetricsSource`` over scripted workloads."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._workloads: dict[WorkloadRef, ScriptedWorkload] = {}
        self._next_rv = 1

    def add(self, ref: WorkloadRef, replicas: int) -> ScriptedWorkload:
        workload = ScriptedWorkload(
            ref, replicas, uid=f"uid-{ref.namespace}-{ref.name}", resource_version=self._bump()
        )
        self._workloads[ref] = workload
        return workload

    def get(self, ref: WorkloadRef) -> ScriptedWorkload:
        return self._workloads[ref]

    def set_replicas_externally(self, ref: WorkloadRef, replicas: int) -> None:
        workload = self._workloads[ref]
        workload.replicas = replicas
        workload.pods = None
        workload.resource_version = self._bump()
        workload.scaled_by_us_at_wall = None

    def state(self, ref: WorkloadRef) -> WorkloadState:
        """The workload as a read would see it now (without a checkpoint)."""
        return self._state(self._workloads[ref])

    def touch(self, ref: WorkloadRef) -> None:
        """Any other change to the object moves its resourceVersion."""
        self._workloads[ref].resource_version = self._bump()

    def _bump(self) -> int:
        self._next_rv += 1
        return self._next_rv

    # -- Cluster --------------------------------------------------------------------------

    async def list_workloads(self) -> Sequence[WorkloadState]:
        await anyio.lowlevel.checkpoint()
        return [self._state(w) for w in self._workloads.values() if not w.deleted]

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        await anyio.lowlevel.checkpoint()
        workload = self._workloads.get(ref)
        if workload is None or workload.deleted:
            raise NotFound(f"deployments.apps {ref.name!r} not found in {ref.namespace}")
        return self._state(workload)

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        await anyio.lowlevel.checkpoint()
        workload = self._workloads.get(ref)
        if workload is None or workload.deleted:
            raise NotFound(f"deployments.apps {ref.name!r} not found in {ref.namespace}")
        failure, workload.fail_next_write = workload.fail_next_write, None
        if failure is not None:
            raise _error_for(failure, ref)
        if str(workload.resource_version) != resource_version:
            raise Conflict(
                f"the object {ref} has been modified; please apply your changes "
                "to the latest version and try again"
            )
        workload.writes.append((workload.replicas, replicas))
        workload.scaled_by_us_at_wall = float(math.floor(self._clock.wall()))
        workload.replicas = replicas
        workload.pods = None
        workload.resource_version = self._bump()
        return str(workload.resource_version)

    async def probe(self) -> None:
        """``ports.Probe`` for both ports it implements: list, and read one workload's CPU,
        so a subclass that makes either fail makes the probe fail too."""
        states = await self.list_workloads()
        await self.cpu(states[:1])

    # -- MetricsSource --------------------------------------------------------------------

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        await anyio.lowlevel.checkpoint()
        now_wall = self._clock.wall()
        readings: dict[WorkloadRef, CpuReading] = {}
        for state in workloads:
            scripted = self._workloads[state.ref]
            samples = {
                pod.name: PodSample(
                    cores=percent / 100.0 * REQUEST_CORES, timestamp_s=now_wall - scripted.cpu_age_s
                )
                for pod, percent in zip(state.pods, self._pod_cpu(scripted), strict=True)
                if percent is not None
            }
            readings[state.ref] = measure(state, samples, now_wall_s=now_wall)
        return readings

    # -- internals ------------------------------------------------------------------------

    def _pods(self, workload: ScriptedWorkload) -> list[ScriptedPod]:
        if workload.pods is not None:
            return workload.pods
        return [ScriptedPod(cpu_percent=workload.cpu_percent) for _ in range(workload.replicas)]

    def _pod_cpu(self, workload: ScriptedWorkload) -> list[float | None]:
        return [pod.cpu_percent for pod in self._pods(workload)]

    def _state(self, workload: ScriptedWorkload) -> WorkloadState:
        pods = tuple(
            PodState(
                f"{workload.ref.name}-{index}",
                ready=pod.ready,
                terminating=pod.terminating,
                cpu_request_cores=REQUEST_CORES,
            )
            for index, pod in enumerate(self._pods(workload))
        )
        return WorkloadState(
            ref=workload.ref,
            uid=workload.uid,
            replicas=workload.replicas,
            resource_version=str(workload.resource_version),
            ready_replicas=sum(p.ready and not p.terminating for p in pods),
            rollout_in_progress=workload.rollout_in_progress,
            paused=workload.paused,
            owner=workload.owner,
            pods=pods,
            last_scaled_by_us_at_wall=workload.scaled_by_us_at_wall,
        )


def _error_for(status: int, ref: WorkloadRef) -> ClusterError:
    if status == 409:
        return Conflict(f"the object {ref} has been modified (scripted 409)")
    if status == 404:
        return NotFound(f"deployments.apps {ref.name!r} not found (scripted 404)")
    if status >= 500:
        return Unavailable(f"the API server answered {status} (scripted)")
    return ClusterError(f"the API server answered {status} (scripted)")
