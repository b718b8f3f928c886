"""The service: the audit log, the executor, the poll loop and the health endpoint, together.

Layer: orchestration (edge for signals). ``Service`` composes the parts around the ports it
is handed (a Cluster, a MetricsSource, a Clock), recovers the executor's memory from the audit
log, and runs three named root loops in one task group: ``executor``, ``controller`` and
``health``. A root loop that returns is a bug and brings the service down loudly. ``stop()``
shuts down in order within ``service.shutdown_grace_s`` (shielded): no new proposals, then
the executor, whose write in flight finishes under its own deadline once its intent is on
disk. ``stop_on_signal`` stops it on SIGTERM or SIGINT (``claudescale run`` and ``serve`` use
it). It must not know the sandbox.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
from anyio.abc import TaskStatus

from claudescale.audit import AuditLog, Recovery, recover_from
from claudescale.audit.retention import Retention
from claudescale.audit.state import StatePolicy
from claudescale.config import Settings, state_dir_for
from claudescale.core.values import WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.engine.health import HealthReport, HealthServer
from claudescale.engine.leadership import SOLE_WRITER, explain_verdicts
from claudescale.engine.loop_memory import Health
from claudescale.engine.poll_loop import Controller
from claudescale.engine.status_view import service_status
from claudescale.engine.telemetry import Telemetry
from claudescale.engine.telemetry_taps import AuditTap, TimedProposer
from claudescale.errors import StateError
from claudescale.ports import (
    ChangeFeed,
    Clock,
    Cluster,
    EventRecorder,
    Leadership,
    MetricsSource,
    Proposer,
)

log = logging.getLogger(__name__)
ROOT_LOOPS = ("executor", "controller", "health")


class RootLoopEnded(RuntimeError):
    """A root loop returned on its own: a bug, and the service must not limp on without it."""


def open_audit(settings: Settings, clock: Clock) -> tuple[AuditLog, Recovery]:
    """Open the audit log and say what the executor may recover from it: its records when
    the whole chain verifies; none when the log is empty (scale-downs wait a full cooldown)
    or damaged (everything is held for a full cooldown, said once, loudly, here and on
    ``/readyz``, until an operator runs ``claudescale audit seal``)."""
    group = settings.audit
    retention = Retention.of(group.retain_days, group.retain_bytes)
    state = StatePolicy(group.state_every_records, group.state_every_s)
    audit = AuditLog(group.path, group.rotate_bytes, clock, retention=retention, state=state)
    try:
        recovery = recover_from(audit, snapshot=not group.full_verify_at_start)
    except BaseException:
        audit.close()
        raise
    if recovery.damage is not None:
        log.warning(
            f"{recovery.damage} Every cooldown, the hourly rate limit and every stop count as "
            "active for a full cooldown from now; run `claudescale audit verify`, then "
            "`claudescale audit seal` to start a new chain.",
            extra={"event": "audit_damaged"},
        )
    elif recovery.problem is not None:
        log.warning(
            f"{recovery.problem} Cooldowns start as if every workload acted now.",
            extra={"event": "audit_not_recovered"},
        )
    return audit, recovery


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        cluster: Cluster,
        metrics: MetricsSource,
        clock: Clock,
        proposers: Sequence[Proposer] = (),
        leadership: Leadership | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        """``leadership``: only while it says so does the executor write (leader election;
        None: this replica always writes); ``events``: Kubernetes Events explaining each
        verdict (None: none)."""
        self.settings, self._clock = settings, clock
        self.leadership, self._events = leadership or SOLE_WRITER, events
        self.telemetry = Telemetry()
        self.audit, recovery = open_audit(settings, clock)
        self.audit_damage = recovery.damage
        audit = AuditTap(self.audit, self.telemetry)  # counts records, verdicts, failures
        try:
            state_dir = state_dir_for(settings, self.audit.path)
            self.executor = Executor(
                cluster, metrics, audit, clock, settings, state_dir=state_dir, leadership=leadership
            )
            self.executor.memory.recover(
                recovery.records, damage=recovery.damage, base=recovery.base
            )
            if recovery.damage is None:
                self.audit.apply_retention()  # only a trusted chain loses its oldest segments
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
        self._managed_from: object = None
        self._managed_refs: frozenset[WorkloadRef] = frozenset()
        self.telemetry.is_managed = self._is_managed
        service = settings.service
        self.health = HealthServer(
            service.host,
            service.port,
            self.report,
            self.controller.reconcile_now,
            metrics=self.metrics_exposition,
            status=self.status_document,
        )
        self.health_port: int | None = None
        self._running: set[str] = set()
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._stopped = {name: anyio.Event() for name in ROOT_LOOPS}
        self._stop = anyio.Event()

    def _is_managed(self, ref: WorkloadRef) -> bool:
        """Whether the last seeing cycle saw ``ref``: one set per cycle, not a scan per call
        (a scan per hold made a cycle over 5,000 workloads quadratic)."""
        situations = self.controller.status().situations
        if situations is not self._managed_from:
            self._managed_from = situations
            self._managed_refs = frozenset(s.ref for s in situations)
        return ref in self._managed_refs

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
                "audit_damage": self.audit_damage,
                "leader": self.leadership.may_write(),
            },
        )

    def status_document(self) -> dict[str, Any]:
        """``/status``: each workload as ``claudescale status`` shows it (``status_view``)."""
        control = self.executor.control
        try:
            approvals = control.approvals.list()
        except StateError:
            approvals = []  # the executor records approvals_unavailable at its next cycle
        return service_status(
            self.controller.status(),
            self.settings,
            history=self.executor.history,
            approvals=approvals,
            kill_switch=self.settings.approvals.kill_switch or control.kill_switch_file.exists(),
            now_s=self._clock.now(),
            now_wall_s=self._clock.wall(),
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
        self.telemetry.leader.set(1 if self.leadership.may_write() else 0)
        return self.telemetry.exposition()

    def stop(self) -> None:
        """Begin the shutdown (from a signal handler task, a test or the demo)."""
        self._stop.set()

    async def run(self, *, ready: anyio.Event | None = None) -> None:
        """Run until ``stop()``; raises RootLoopEnded if a root loop returns by itself."""
        if self._events is not None:
            self.executor.add_verdict_listener(explain_verdicts(self._events, self.leadership))
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
            self.executor.close()  # also when cancelled from outside: no queue left open
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


async def stop_on_signal(service: Service) -> None:
    """Stop ``service`` on the first SIGTERM or SIGINT."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            log.info(f"{name} received; stopping.", extra={"event": "signal", "signal": name})
            service.stop()
            return
