"""The poll loop's sight: whether it reads the cluster and the metrics, since when, and how it
finds out that it can again.

Layer: engine (used by ``poll_loop.Controller`` only). It reads the managed workloads and
their CPU for each cycle, each under its deadline. Blind means the last cycle could not
read the API server or Prometheus: the loop proposes nothing, and says so once in the audit
log and the service's log, and once again when it sees. While blind, full cycles back off
(from ``loop.interval_s``, doubling up to ``loop.blind_backoff_max_s``), but between them the
dependency that failed is probed cheaply every interval (``ports.Probe``); the first probe
that answers starts the next full cycle at once, so sight comes back within one poll interval
of the dependency. A dependency without a probe is retried by full cycles only. The loop's
pause between cycles (``Waker``), which ``Controller.reconcile_now`` cuts short, lives here
too. It never proposes or judges anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio

from claudescale.config import Settings
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.engine.loop_memory import CycleReport, Health
from claudescale.errors import ClusterError, MetricsUnavailable
from claudescale.ports import AuditSink, Clock, Cluster, MetricsSource, Probe

log = logging.getLogger(__name__)
MAX_DOUBLINGS = 30
"""Caps the back-off's exponent: an outage of days must not overflow the float."""

Pause = Callable[[float], Awaitable[bool]]
"""Sleep up to the given seconds; True when woken early (``Waker.pause``)."""
Observe = Callable[[Sequence[WorkloadState], float], None]
"""Told of every fresh list of workloads and when the read began (``Executor.observe``)."""


class Waker:
    """The loop's pause between cycles, on the injected clock; ``wake`` cuts it short."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._event = anyio.Event()

    def wake(self) -> None:
        self._event.set()

    async def pause(self, delay_s: float) -> bool:
        """Sleep ``delay_s``; True when ``wake`` cut it short (or came just before)."""
        async with anyio.create_task_group() as tg:

            async def sleep_then_stop() -> None:
                await self._clock.sleep(delay_s)
                tg.cancel_scope.cancel()

            tg.start_soon(sleep_then_stop)
            await self._event.wait()
            tg.cancel_scope.cancel()
        woken = self._event.is_set()
        self._event = anyio.Event()
        return woken


class Blind(Exception):
    """A cycle could not read ``source`` ("cluster" or "metrics"); ``message`` says why."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source, self.message = source, message


class Sight:
    """The loop's reads and its health as far as reading goes, with its audit records and
    its probes."""

    def __init__(
        self,
        cluster: Cluster,
        metrics: MetricsSource,
        settings: Settings,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._cluster, self._metrics = cluster, metrics
        self._settings, self._clock, self._audit = settings.loop, clock, audit
        self._query_timeout_s = settings.prometheus.query_timeout_s
        self._dependencies: dict[str, tuple[object, float]] = {
            "cluster": (cluster, settings.loop.list_timeout_s),
            "metrics": (metrics, self._query_timeout_s),
        }
        self.health = Health.STARTING
        self.blind_since: float | None = None
        self.blind_reason: str | None = None
        self.blind_source: str | None = None
        self.blind_cycles = 0
        self.seen_cycles = 0

    async def read(
        self, started: float, observe: Observe
    ) -> tuple[list[WorkloadState], dict[WorkloadRef, CpuReading]]:
        """The managed workloads, handed to ``observe`` at once, then their CPU; raises
        Blind naming the source that could not be read in time."""
        timeout_s = self._settings.list_timeout_s
        try:
            with anyio.fail_after(timeout_s):
                states = [s for s in await self._cluster.list_workloads() if s.managed]
        except ClusterError as exc:
            raise Blind("cluster", f"cannot list the managed workloads ({exc})") from exc
        except TimeoutError as exc:
            why = f"could not list the managed workloads within {timeout_s:g} s"
            raise Blind("cluster", why) from exc
        observe(states, started)
        timeout_s = self._query_timeout_s
        try:
            with anyio.fail_after(timeout_s):
                readings = await self._metrics.cpu(states)
        except MetricsUnavailable as exc:
            raise Blind("metrics", f"cannot read CPU ({exc})") from exc
        except TimeoutError as exc:
            why = f"could not read CPU within {timeout_s:g} s"
            raise Blind("metrics", why) from exc
        return states, {s.ref: readings.get(s.ref, CpuReading(None)) for s in states}

    def go_blind(self, started: float, blind: Blind) -> CycleReport:
        """A cycle that began at ``started`` could not read: audit it once, back off."""
        self.blind_cycles += 1
        if self.health is not Health.BLIND:
            self.blind_since = started
            message = (
                f"Stopped proposing changes: the loop {blind.message}. Nothing is changed "
                "while it cannot see."
            )
            self._audit.append("blind", {"source": blind.source, "message": message})
            log.warning(message, extra={"event": "blind", "source": blind.source})
        self.health, self.blind_reason, self.blind_source = (
            Health.BLIND,
            blind.message,
            blind.source,
        )
        doublings = min(self.blind_cycles - 1, MAX_DOUBLINGS)
        loop = self._settings
        delay_s = min(loop.blind_backoff_max_s, loop.interval_s * 2.0**doublings)
        return CycleReport(started, Health.BLIND, delay_s, problem=blind.message)

    def see(self, started: float) -> bool:
        """A cycle that began at ``started`` read both: audit the recovery once. True when
        this ends a blind spell."""
        restored = self.health is Health.BLIND
        if self.health is Health.BLIND and self.blind_since is not None:
            blind_s = started - self.blind_since
            message = f"Sight restored after {blind_s:.1f} s: the loop reads the cluster and CPU."
            fields = {"blind_for_s": round(blind_s, 3), "message": message}
            self._audit.append("sight_restored", fields)
            log.info(message, extra={"event": "sight_restored"})
        self.health, self.blind_since, self.blind_reason = Health.SEEING, None, None
        self.blind_source = None
        self.blind_cycles = 0
        self.seen_cycles += 1
        return restored

    async def wait_while_blind(self, backoff_s: float, pause: Pause) -> None:
        """Return when the next full cycle should run: ``backoff_s`` from now, or at once
        after a probe of the missing dependency answers (one every ``loop.interval_s``), or
        when the loop is woken."""
        deadline = self._clock.now() + backoff_s
        while (left_s := deadline - self._clock.now()) > 0:
            if await pause(min(self._settings.interval_s, left_s)):
                return
            if self._clock.now() < deadline and await self._probe():
                return

    async def _probe(self) -> bool:
        target, timeout_s = self._dependencies.get(self.blind_source or "", (None, 0.0))
        if not isinstance(target, Probe):
            return False
        try:
            with anyio.fail_after(timeout_s):
                await target.probe()
        except (ClusterError, MetricsUnavailable, TimeoutError) as exc:
            log.debug("The %s probe failed: %s", self.blind_source, exc)
            return False
        log.info(
            "The %s answered a probe again; running a full cycle now.",
            "API server" if self.blind_source == "cluster" else "metrics source",
            extra={"event": "probe_answered", "source": self.blind_source},
        )
        return True
