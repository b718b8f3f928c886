"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go's does it.

Layer: adapter (``claudescale.ports.Leadership`` over kubernetes-asyncio's CoordinationV1Api);
it decides nothing about scaling. ``step`` is one try to acquire or renew: GET the Lease
(create it when missing); take it over only if it is ours, free, or unchanged for
``lease_duration_s`` as seen from here; write it back with a PUT whose ``resourceVersion`` is
a precondition, so of two replicas racing only one wins (the other gets 409). ``run`` steps
every ``retry_period_s``.

``may_write`` is the safety rule: true only while the last successful renewal was *sent*
less than ``renew_deadline_s`` ago. Another replica may take over only ``lease_duration_s``
after it *saw* that renewal, which is later than it was sent, and the renew deadline is
shorter than the lease duration: so a leader that cannot renew (partitioned, stuck, killed)
stops writing before anyone else can acquire the Lease. A write already sent when the
deadline passes still carries its resourceVersion precondition, so it cannot overwrite what
a new leader wrote. ``open`` releases the Lease on a clean exit (after the service stopped
writing), never when cancelled by a crash. The identity needs get/create/update on leases.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from kubernetes_asyncio import client

from claudescale.config.coordination import LeaderElectionSettings
from claudescale.errors import ClusterError, Conflict, NotFound
from claudescale.ports import Clock, Leadership

if TYPE_CHECKING:
    from claudescale.adapters.kubernetes.cluster import KubernetesCluster

log = logging.getLogger(__name__)


def default_identity() -> str:
    """The host name (a pod's name) and a random suffix: unique per process."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _micro_time(wall_s: float) -> str:
    """A ``MicroTime`` as the API server writes it."""
    whole = int(wall_s)
    micros = int((wall_s - whole) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


class LeaseElector:
    """Implements ``Leadership``; a service uses ``async with LeaseElector.open(...)``."""

    def __init__(
        self,
        cluster: KubernetesCluster,
        settings: LeaderElectionSettings,
        clock: Clock,
        *,
        identity: str | None = None,
    ) -> None:
        self._cluster, self._settings, self._clock = cluster, settings, clock
        self.identity = identity or settings.identity or default_identity()
        self._api = client.CoordinationV1Api(cluster.api_client)
        self._where = f"{settings.lease_namespace}/{settings.lease_name}"
        self._renewed_at: float | None = None
        """Monotonic time our last successful acquire or renew was sent; None: not leader."""
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self.holder = ""
        """The holderIdentity last seen on the Lease (for status and messages)."""
        self._failing = False

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        cluster: KubernetesCluster,
        settings: LeaderElectionSettings,
        clock: Clock,
        *,
        identity: str | None = None,
    ) -> AsyncIterator[LeaseElector]:
        """Campaign in a task group of its own until the block ends; a clean end releases."""
        elector = cls(cluster, settings, clock, identity=identity)
        async with anyio.create_task_group() as group:
            await group.start(elector.run)
            yield elector
            group.cancel_scope.cancel()
        await elector.release()

    # -- the port ---------------------------------------------------------------------------

    def may_write(self) -> bool:
        renewed_at = self._renewed_at
        if renewed_at is None:
            return False
        return self._clock.now() - renewed_at < self._settings.renew_deadline_s

    # -- campaigning ------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Acquire or renew every ``retry_period_s`` until cancelled; started once the first
        try has answered (so a replica that can lead leads before its service starts)."""
        await self.step()
        task_status.started()
        while True:
            await self._clock.sleep(self._settings.retry_period_s)
            await self.step()

    async def step(self) -> bool:
        """One try to acquire or renew; True when this replica leads afterwards."""
        was_leader = self.may_write()
        try:
            led = await self._try_acquire_or_renew()
        except ClusterError as exc:
            led = False
            if was_leader:
                log.warning(
                    f"Could not renew the leader Lease {self._where} ({exc}); writes stop "
                    f"{self._settings.renew_deadline_s:g} s after the last renewal.",
                    extra={"event": "lease_renew_failed", "lease": self._where},
                )
            elif not self._failing:  # once per streak: a follower retries every period
                log.warning(
                    f"Could not campaign for the leader Lease {self._where} ({exc}); this "
                    "replica does not write until it holds the Lease.",
                    extra={"event": "lease_unavailable", "lease": self._where},
                )
            self._failing = True
        else:
            self._failing = False
        now_leader = self.may_write()
        if now_leader and not was_leader:
            log.info(
                f"This replica ({self.identity}) is now the leader on Lease {self._where}; "
                "its executor writes.",
                extra={"event": "leader_acquired", "lease": self._where},
            )
        elif was_leader and not now_leader:
            log.warning(
                f"This replica ({self.identity}) lost the leader Lease {self._where} "
                f"(now held by {self.holder or 'nobody'}); its executor refuses writes.",
                extra={"event": "leader_lost", "lease": self._where},
            )
        return led

    async def _try_acquire_or_renew(self) -> bool:
        sent_at = self._clock.now()
        try:
            lease = await self._call("reading", self._api.read_namespaced_lease)
        except NotFound:
            return await self._create(sent_at)
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock.now()
        self.holder = holder
        ours = holder == self.identity
        fresh = self._clock.now() - self._observed_at < self._settings.lease_duration_s
        if holder and not ours and fresh:
            self._renewed_at = None
            return False
        if not ours and self._renewed_at is not None:
            self._renewed_at = None  # someone else held it in between: we are not leader
        wall = _micro_time(self._clock.wall())
        new_spec = {
            **spec,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self._settings.lease_duration_s)),
            "renewTime": wall,
        }
        if not ours:
            new_spec["acquireTime"] = wall
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if holder else 0
            )
        body = {**lease, "spec": new_spec}
        try:
            await self._call("updating", self._api.replace_namespaced_lease, body)
        except Conflict:
            return False
        self._take(sent_at, wall)
        return True

    async def _create(self, sent_at: float) -> bool:
        wall = _micro_time(self._clock.wall())
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self._settings.lease_name,
                "namespace": self._settings.lease_namespace,
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self._settings.lease_duration_s)),
                "acquireTime": wall,
                "renewTime": wall,
                "leaseTransitions": 0,
            },
        }
        try:
            await self._call("creating", self._api.create_namespaced_lease, body, by_name=False)
        except Conflict:  # someone created it first (409 AlreadyExists)
            return False
        self._take(sent_at, wall)
        return True

    def _take(self, sent_at: float, renew_time: str) -> None:
        self._renewed_at = sent_at
        self.holder = self.identity
        self._observed, self._observed_at = (self.identity, renew_time), self._clock.now()

    async def release(self) -> None:
        """Give the Lease up (only if still ours), so a successor need not wait it out. Call
        it only after this replica's executor has stopped writing."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        with anyio.CancelScope(shield=True):
            try:
                lease = await self._call("reading", self._api.read_namespaced_lease)
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") != self.identity:
                    return
                released = {**spec, "holderIdentity": None, "leaseDurationSeconds": 1}
                await self._call(
                    "releasing", self._api.replace_namespaced_lease, {**lease, "spec": released}
                )
            except ClusterError as exc:
                log.warning(
                    f"Could not release the leader Lease {self._where} ({exc}); the next "
                    f"leader waits {self._settings.lease_duration_s:g} s for it instead.",
                    extra={"event": "lease_release_failed", "lease": self._where},
                )
                return
        log.info(
            f"Released the leader Lease {self._where}.",
            extra={"event": "leader_released", "lease": self._where},
        )

    async def _call(self, verb: str, method: Any, *body: Any, by_name: bool = True) -> Any:
        settings = self._settings
        name_args = (settings.lease_name,) if by_name else ()
        return await self._cluster.call(
            f"{verb} the leader Lease {self._where}",
            method,
            *name_args,
            settings.lease_namespace,
            *body,
        )


if TYPE_CHECKING:
    _IMPLEMENTS_THE_PORT: type[Leadership] = LeaseElector
