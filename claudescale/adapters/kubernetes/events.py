"""Kubernetes Events that explain verdicts, as the HPA's ``SuccessfulRescale`` does.

Layer: adapter (``claudescale.ports.EventRecorder`` over kubernetes-asyncio). Core ``v1``
Events on the Deployment, with the verdict's sentence as the message: what ``kubectl describe
deployment`` (it lists core Events by ``involvedObject`` name, namespace, kind and uid) and
``kubectl get events`` show. ``record`` only queues (bounded; a full queue drops and logs
once), so it never holds up the executor; ``run`` sends, one call at a time under the API
deadline. Like client-go's event correlator, a repeat of the same type, reason and message
within ``aggregate_window_s`` patches ``count`` and ``lastTimestamp`` of the Event already
made, at most once per ``repeat_interval_s`` (repeats in between are counted and sent later),
and a workload's Warnings are rate-limited by a token bucket. Failures are logged once until
a call succeeds again. The identity needs: create/patch on events, get on deployments.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from claudescale.config.coordination import EventSettings
from claudescale.core.values import Code, Outcome, Verdict, WorkloadRef
from claudescale.errors import ClusterError, NotFound
from claudescale.ports import Clock, EventRecorder

if TYPE_CHECKING:
    from claudescale.adapters.kubernetes.cluster import KubernetesCluster

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
MESSAGE_LIMIT = 1024
"""The API server refuses longer Event messages."""
WARNING_BURST = 10
"""Warnings a workload may create at once before the bucket refills (one per interval)."""
FLUSH_CHECK_S = 1.0
"""How often held-back repeats are checked for being due (their interval is on the clock)."""
_WRITE_FAILURES = (Code.CONFLICT, Code.TARGET_GONE, Code.WRITE_FAILED)


def kind_of(verdict: Verdict) -> tuple[str, str] | None:
    """The Event's (type, reason) for a verdict, or None when it deserves none (a hold)."""
    before, after = verdict.from_replicas, verdict.to_replicas
    if verdict.outcome is Outcome.EXECUTED:
        if before is not None and after is not None and after < before:
            return NORMAL, "ScaledDown"
        return NORMAL, "ScaledUp"
    if verdict.outcome is Outcome.PENDING:
        return NORMAL, "AwaitingApproval"
    if verdict.outcome is Outcome.HELD:
        return None
    if verdict.code is Code.DRY_RUN:
        return NORMAL, "WouldRescale"
    if verdict.code in _WRITE_FAILURES:
        return WARNING, "FailedRescale"
    return WARNING, "RefusedRescale"


def _stamp(wall_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


@dataclass(slots=True)
class _Made:
    """An Event already created, and repeats of it not yet sent."""

    name: str
    count: int
    last_seen_s: float
    sent_s: float
    last_wall_s: float
    unsent: int = 0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_s: float


Key = tuple[WorkloadRef, str, str, str]


class KubernetesEventRecorder:
    """Implements ``EventRecorder``; use ``async with KubernetesEventRecorder.open(...)``."""

    def __init__(
        self,
        cluster: KubernetesCluster,
        settings: EventSettings,
        clock: Clock,
        *,
        instance: str,
    ) -> None:
        self._cluster, self._settings, self._clock = cluster, settings, clock
        self._instance = instance
        send, receive = anyio.create_memory_object_stream[tuple[WorkloadRef, Verdict]](
            settings.queue_size
        )
        self._send, self._receive = send, receive
        self._made: dict[Key, _Made] = {}
        self._buckets: dict[WorkloadRef, _Bucket] = {}
        self._failing = self._dropping = False
        self.sent = 0
        """API calls that succeeded (creates and patches)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        cluster: KubernetesCluster,
        settings: EventSettings,
        clock: Clock,
        *,
        instance: str,
    ) -> AsyncIterator[KubernetesEventRecorder]:
        """A recorder whose sender runs in its own task group until the block ends."""
        recorder = cls(cluster, settings, clock, instance=instance)
        try:
            async with anyio.create_task_group() as group:
                await group.start(recorder.run)
                yield recorder
                group.cancel_scope.cancel()
        finally:
            recorder.close()

    def close(self) -> None:
        """Stop taking verdicts; what is queued is dropped."""
        self._send.close()
        self._receive.close()

    def record(self, ref: WorkloadRef, verdict: Verdict) -> None:
        if kind_of(verdict) is None:
            return
        try:
            self._send.send_nowait((ref, verdict))
        except anyio.WouldBlock:
            if not self._dropping:
                log.warning(
                    f"Kubernetes Events are falling behind; the Event for {ref} was dropped "
                    "(and later ones will be, silently, until the queue drains).",
                    extra={"event": "events_dropped", "workload": str(ref)},
                )
            self._dropping = True
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the recorder stopped: nothing is recorded any more

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send Events until cancelled; repeats held back are sent once their interval ends."""
        task_status.started()
        async with self._receive:
            while True:
                item = None
                with anyio.move_on_after(FLUSH_CHECK_S):
                    item = await self._receive.receive()
                if item is not None:
                    await self._attempt(self._note(*item))
                    if self._receive.statistics().current_buffer_used == 0:
                        self._dropping = False
                await self._flush()

    # -- deciding what to send ------------------------------------------------------------

    def _note(self, ref: WorkloadRef, verdict: Verdict) -> tuple[str, Key] | None:
        """Count the verdict; say which call to make now (``create`` or ``patch``), if any."""
        kind = kind_of(verdict)
        assert kind is not None
        now_s = self._clock.now()
        self._forget_older_than(now_s - self._settings.aggregate_window_s)
        key = (ref, kind[0], kind[1], verdict.message[:MESSAGE_LIMIT])
        made = self._made.get(key)
        if made is not None:
            made.count += 1
            made.unsent += 1
            made.last_seen_s, made.last_wall_s = now_s, self._clock.wall()
            due = now_s - made.sent_s >= self._settings.repeat_interval_s
            return ("patch", key) if due else None
        if kind[0] == WARNING and not self._take_token(ref, now_s):
            return None
        return "create", key

    def _take_token(self, ref: WorkloadRef, now_s: float) -> bool:
        interval_s = max(self._settings.repeat_interval_s, 1e-9)
        bucket = self._buckets.setdefault(ref, _Bucket(WARNING_BURST, now_s))
        bucket.tokens = min(WARNING_BURST, bucket.tokens + (now_s - bucket.at_s) / interval_s)
        bucket.at_s = now_s
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _forget_older_than(self, cutoff_s: float) -> None:
        for key in [k for k, made in self._made.items() if made.last_seen_s < cutoff_s]:
            del self._made[key]

    async def _flush(self) -> None:
        now_s = self._clock.now()
        for key, made in list(self._made.items()):
            if made.unsent and now_s - made.sent_s >= self._settings.repeat_interval_s:
                await self._attempt(("patch", key))

    # -- the API calls --------------------------------------------------------------------

    async def _attempt(self, call: tuple[str, Key] | None) -> None:
        if call is None:
            return
        what, key = call
        try:
            if what == "patch":
                await self._patch(key)
            else:
                await self._create(key)
        except Exception as exc:  # best effort: nothing here may stop the service
            if not self._failing:
                log.warning(
                    f"Could not record a Kubernetes Event for {key[0]} ({exc}); Events are "
                    "best effort and the decisions go on (logged once until it works again).",
                    exc_info=not isinstance(exc, ClusterError),
                    extra={"event": "events_failing", "workload": str(key[0])},
                )
            self._failing = True
            return
        self.sent += 1
        if self._failing:
            log.info("Kubernetes Events are recorded again.", extra={"event": "events_ok"})
        self._failing = False

    async def _create(self, key: Key) -> None:
        ref, reason = key[0], key[2]
        now_s, wall_s = self._clock.now(), self._clock.wall()
        name = f"{ref.name}.{time.time_ns():x}"
        body = self._body(name, key, await self._uid(ref), wall_s)
        await self._cluster.call(
            f"recording the Event {reason} on {ref}",
            self._cluster.core.create_namespaced_event,
            ref.namespace,
            body,
        )
        self._made[key] = _Made(name, 1, now_s, now_s, wall_s)

    async def _patch(self, key: Key) -> None:
        made = self._made[key]
        body = {"count": made.count, "lastTimestamp": _stamp(made.last_wall_s)}
        try:
            await self._cluster.call(
                f"counting the Event {key[2]} on {key[0]} again",
                self._cluster.core.patch_namespaced_event,
                made.name,
                key[0].namespace,
                body,
            )
        except NotFound:  # expired or deleted: start a new one
            del self._made[key]
            await self._create(key)
            return
        made.unsent, made.sent_s = 0, self._clock.now()

    async def _uid(self, ref: WorkloadRef) -> str:
        """The Deployment's uid (``kubectl describe`` matches Events on it); empty if gone."""
        try:
            deployment = await self._cluster.call(
                f"reading Deployment {ref} for its Event",
                self._cluster.apps.read_namespaced_deployment,
                ref.name,
                ref.namespace,
            )
        except NotFound:
            return ""
        return str((deployment.get("metadata") or {}).get("uid") or "")

    def _body(self, name: str, key: Key, uid: str, wall_s: float) -> dict[str, Any]:
        ref, kind, reason, message = key
        component = self._settings.component
        involved = {"apiVersion": "apps/v1", "kind": "Deployment", "name": ref.name}
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ref.namespace},
            "involvedObject": {**involved, "namespace": ref.namespace, "uid": uid},
            "type": kind,
            "reason": reason,
            "message": message,
            "action": "Scale",
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": self._instance,
            "firstTimestamp": _stamp(wall_s),
            "lastTimestamp": _stamp(wall_s),
            "count": 1,
        }


if TYPE_CHECKING:
    _IMPLEMENTS_THE_PORT: type[EventRecorder] = KubernetesEventRecorder
