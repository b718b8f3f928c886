"""The service: the audit log, the executor, the poll loop and the health endpoint, together.

Layer: orchestration (edge for signals). ``Service`` composes the parts around the ports it
is handed (a Cluster, a MetricsSource, a Clock), recovers the executor's memory from the audit
log, and runs three named root loops in one task group: ``executor``, ``controller`` and
``health``. A root loop that returns is a bug and brings the service down loudly. ``stop()``
shuts down in order within ``service.shutdown_grace_s`` (shielded): no new proposals, then
the executor, whose write in flight finishes under its own deadline once its intent is on
disk. ``serve`` adds SIGTERM/SIGINT handling. It must not know the sandbox.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio
from anyio.abc import TaskStatus

from claudescale.audit import AuditLog, recovery_records
from claudescale.config import Settings, state_dir_for
from claudescale.engine.executor import Executor
from claudescale.engine.health import HealthReport, HealthServer
from claudescale.engine.loop_memory import Health
from claudescale.engine.poll_loop import Controller
from claudescale.engine.telemetry import Telemetry
from claudescale.engine.telemetry_taps import AuditTap, TimedProposer
from claudescale.ports import ChangeFeed, Clock, Cluster, MetricsSource, Proposer

log = logging.getLogger(__name__)
ROOT_LOOPS = ("executor", "controller", "health")


class RootLoopEnded(RuntimeError):
    """A root loop returned on its own: a bug, and the service must not limp on without it."""


def open_audit(
    settings: Settings, clock: Clock
) -> tuple[AuditLog, Iterable[Mapping[str, Any]] | None]:
    """Open the audit log and say what the executor may recover from it: its records when
    the whole chain verifies, None when the log is empty or broken (then every workload is
    assumed to have acted at start-up)."""
    audit = AuditLog(settings.audit.path, settings.audit.rotate_bytes, clock)
    recovery = recovery_records(settings.audit.path)
    if recovery.problem is not None:
        log.warning(
            f"{recovery.problem} Cooldowns start as if every workload acted now.",
            extra={"event": "audit_not_recovered"},
        )
    return audit, recovery.records


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        cluster: Cluster,
        metrics: MetricsSource,
        clock: Clock,
        proposers: Sequence[Proposer] = (),
    ) -> None:
        self.settings, self._clock = settings, clock
        self.telemetry = Telemetry()
        self.audit, records = open_audit(settings, clock)
        audit = AuditTap(self.audit, self.telemetry)  # counts records, verdicts, failures
        try:
            state_dir = state_dir_for(settings, self.audit.path)
            self.executor = Executor(cluster, metrics, audit, clock, settings, state_dir=state_dir)
            self.executor.recover(records)
        except BaseException:
            self.audit.close()
            raise
        timed = [TimedProposer(proposer, self.telemetry, clock) for proposer in proposers]
        self.controller = Controller(
            cluster, metrics, self.executor, timed, clock, settings, audit=audit
        )
        if isinstance(cluster, ChangeFeed):  # a watching cluster starts a cycle at once
            cluster.subscribe(lambda ref: self.controller.reconcile_now())
        self.controller.on_hold = self.telemetry.observe_decision
        self.telemetry.is_managed = lambda ref: any(
            situation.ref == ref for situation in self.controller.status().situations
        )
        service = settings.service
        self.health = HealthServer(
            service.host,
            service.port,
            self.report,
            self.controller.reconcile_now,
            metrics=self.metrics_exposition,
        )
        self.health_port: int | None = None
        self._running: set[str] = set()
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._stopped = {name: anyio.Event() for name in ROOT_LOOPS}
        self._stop = anyio.Event()

    def report(self) -> HealthReport:
        status = self.controller.status()
        alive = self._running.issuperset(ROOT_LOOPS)
        return HealthReport(
            alive=alive,
            ready=alive and status.health is Health.SEEING,
            detail={
                "loops": sorted(self._running),
                "loop_health": status.health.value,
                "cycles": status.cycles,
                "blind_reason": status.blind_reason,
            },
        )

    def metrics_exposition(self) -> bytes:
        """``/metrics``: the loop's latest view copied into the gauges, then every metric."""
        self.telemetry.refresh(
            self.controller.status(),
            self.settings,
            self._clock,
            history=self.executor.history,
            approvals=self.executor.control.approvals,
        )
        return self.telemetry.exposition()

    def stop(self) -> None:
        """Begin the shutdown (from a signal handler task, a test or the demo)."""
        self._stop.set()

    async def run(self, *, ready: anyio.Event | None = None) -> None:
        """Run until ``stop()``; raises RootLoopEnded if a root loop returns by itself."""
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self._root, "executor", self.executor.run)
                await tg.start(self._root, "controller", self.controller.poll_forever)
                self.health_port = await tg.start(self._root, "health", self.health.serve_forever)
                url = f"http://{self.settings.service.host}:{self.health_port}"
                log.info(
                    f"claudescale is running in {self.settings.mode.value} mode; health "
                    f"endpoint on {url}.",
                    extra={"event": "listening", "port": self.health_port, "url": url},
                )
                if ready is not None:
                    ready.set()
                await self._stop.wait()
                await self._shutdown()
                tg.cancel_scope.cancel()
        finally:
            self.audit.close()
        log.info("claudescale stopped.", extra={"event": "stopped"})

    async def _root(
        self,
        name: str,
        loop: Callable[..., Awaitable[None]],
        *,
        task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        self._running.add(name)
        try:
            with anyio.CancelScope() as scope:
                self._scopes[name] = scope
                await loop(task_status=task_status)
        finally:
            self._running.discard(name)
            self._stopped[name].set()
        if not scope.cancelled_caught:
            message = f"The {name} loop returned by itself; claudescale cannot run without it."
            log.critical(message, extra={"event": "root_loop_ended", "loop": name})
            raise RootLoopEnded(message)

    async def _shutdown(self) -> None:
        grace_s = self.settings.service.shutdown_grace_s
        in_flight = sorted(str(ref) for ref in self.controller.in_flight)
        log.info("Shutting down.", extra={"event": "shutdown", "in_flight": in_flight})
        self.audit.append("shutdown", {"in_flight": in_flight, "grace_s": grace_s})
        with anyio.move_on_after(grace_s, shield=True) as grace:
            for name in ("controller", "executor"):
                self._scopes[name].cancel()
                await self._stopped[name].wait()
        self.executor.close()
        if grace.cancelled_caught:
            message = (
                f"The shutdown grace of {grace_s:g} s ran out with a write possibly in flight "
                f"for {', '.join(in_flight) or 'a workload'}; it finishes under its own API "
                "deadline, and if the process is killed first the restart records its "
                "outcome as unknown."
            )
            log.warning(message, extra={"event": "shutdown_abandoned"})
            self.audit.append(
                "shutdown_abandoned", {"in_flight": in_flight, "message": message}, durable=True
            )


async def serve(
    settings: Settings,
    *,
    cluster: Cluster,
    metrics: MetricsSource,
    clock: Clock,
    ready: anyio.Event | None = None,
    proposers: Sequence[Proposer] = (),
) -> None:
    """Run the service until SIGTERM or SIGINT, then shut down within the grace."""
    service = Service(settings, cluster=cluster, metrics=metrics, clock=clock, proposers=proposers)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_on_signal, service)
        await service.run(ready=ready)
        tg.cancel_scope.cancel()


async def _stop_on_signal(service: Service) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            log.info(f"{name} received; stopping.", extra={"event": "signal", "signal": name})
            service.stop()
            return
