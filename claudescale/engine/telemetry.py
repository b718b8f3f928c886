"""The service's Prometheus metrics, served on ``/metrics`` by the health endpoint.

Layer: orchestration support. ``Telemetry`` owns one ``CollectorRegistry`` per service (never
the process-global one, so two services in one process, as in the tests, do not mix). It is
fed three ways, none of which can change a decision: ``observe_record`` learns from every
audit record the executor and the loop write (verdicts from every source, the executor's own
CPU readings, external changes), through ``telemetry_taps.AuditTap``; ``observe_consult``
from each model consult, timed by ``telemetry_taps.TimedProposer``; and ``refresh`` copies
the loop's latest view (replicas, bounds, cooldowns, blindness, pending approvals) into
gauges just before a scrape and drops the series of workloads that are gone. Names follow
Prometheus conventions: ``claudescale_`` prefix, base units (seconds, ratios), ``_total``
counters. It must not read the cluster or Prometheus itself.

It is longer than the ~300 lines modules aim for because about a third of it is the metric
definitions in ``Telemetry.__init__``: each metric's name, help and labels stay beside the
code that sets it, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from claudescale import __version__
from claudescale.config import Settings
from claudescale.control.approval_values import Status
from claudescale.control.approvals import ApprovalStore
from claudescale.core.situation import WorkloadSituation, cooldowns_remaining_s
from claudescale.core.values import History, Outcome, WorkloadRef
from claudescale.engine.loop_memory import Decision, Health, LoopStatus
from claudescale.errors import StateError
from claudescale.ports import Clock

WORKLOAD = ("namespace", "deployment")
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin per counter
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Model consults take from tens of milliseconds to the cycle's deadline (10 s by default)."""

UNMANAGED = ("(unmanaged)", "(unmanaged)")
"""The namespace and deployment labels of decisions on workloads the loop does not manage."""


def _labels(ref: WorkloadRef) -> tuple[str, str]:
    return ref.namespace, ref.name


def _parsed(workload: object) -> WorkloadRef | None:
    try:
        return WorkloadRef.parse(workload) if isinstance(workload, str) else None
    except ValueError:
        return None


def _ratio(percent: Any) -> float:
    """Percent (a number, None, or the audit log's "NaN"/"+Inf" strings) as a ratio."""
    try:
        return float(percent) / 100.0
    except (TypeError, ValueError):
        return math.nan


class Telemetry:
    """Every metric of one service, and the functions that record into them."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.decisions = Counter(
            "claudescale_decisions",
            "Decisions on scaling proposals: the executor's verdicts for every source and the "
            "loop's holds, by workload, source, outcome and verdict code.",
            (*WORKLOAD, "source", "outcome", "code"),
            registry=r,
        )
        self.actions = Counter(
            "claudescale_actions",
            "Replica changes claudescale wrote (executed verdicts), by direction.",
            (*WORKLOAD, "direction"),
            registry=r,
        )
        self.external_changes = Counter(
            "claudescale_external_changes",
            "Replica changes of a managed workload that claudescale did not make.",
            WORKLOAD,
            registry=r,
        )
        self.desired_replicas = self._gauge("desired_replicas", "Desired replicas (spec).")
        self.ready_replicas = self._gauge(
            "ready_replicas", "Actual replicas: the workload's ready, non-terminating pods."
        )
        self.min_replicas = self._gauge("min_replicas", "Lower replica bound in force.")
        self.max_replicas = self._gauge("max_replicas", "Upper replica bound in force.")
        self.cpu_utilisation = self._gauge(
            "cpu_utilisation_ratio",
            "CPU usage of the ready pods over their CPU requests (1 = 100 % of requests), as "
            "claudescale measured it for its decisions: the loop's reading each cycle, the "
            "executor's own fresh reading when it evaluates a change. NaN without data.",
        )
        self.cpu_age = self._gauge(
            "cpu_sample_age_seconds", "Age of the oldest CPU sample behind the last reading."
        )
        self.scale_down_below = self._gauge(
            "scale_down_cpu_below_ratio",
            "A scale-down needs utilisation strictly below this ratio of requests.",
        )
        self.cpu_target = self._gauge(
            "cpu_target_ratio", "Utilisation the rules policy steers towards (ratio)."
        )
        self.external_controller = self._gauge(
            "external_controller",
            "1 while claudescale has stopped acting because someone keeps reverting it.",
        )
        self.cooldown_remaining = Gauge(
            "claudescale_workload_cooldown_remaining_seconds",
            "Seconds until a scale in this direction passes the cooldown rule (0: now).",
            (*WORKLOAD, "direction"),
            registry=r,
        )
        self.proposer_latency = Histogram(
            "claudescale_proposer_latency_seconds",
            "Time a model proposer took to answer (or to fail or time out), per consult.",
            ("proposer",),
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.model_consults = Counter(
            "claudescale_model_consults",
            "Model proposer consults by result: answered, failed or timeout.",
            ("proposer", "result"),
            registry=r,
        )
        self.approvals_pending = Gauge(
            "claudescale_approvals_pending", "Changes waiting for a human approval.", registry=r
        )
        self.approvals_oldest_age = Gauge(
            "claudescale_approvals_oldest_pending_age_seconds",
            "Age of the oldest change waiting for a human approval (0 when none).",
            registry=r,
        )
        self.audit_records = Counter(
            "claudescale_audit_records_written",
            "Audit records written, by record kind.",
            ("kind",),
            registry=r,
        )
        self.audit_failures = Counter(
            "claudescale_audit_write_failures",
            "Audit records that could not be written.",
            registry=r,
        )
        self.blind_seconds = Gauge(
            "claudescale_blind_seconds",
            "Seconds the loop has been unable to read the cluster or Prometheus (0 while it "
            "sees); nothing is changed while blind.",
            registry=r,
        )
        self.cycles = Gauge(
            "claudescale_loop_cycles", "Poll cycles started since the service started.", registry=r
        )
        self.leader = Gauge(
            "claudescale_leader",
            "1 when this pod may write to the cluster: it holds the lease, or election is off.",
            registry=r,
        )
        self.info = Gauge(
            "claudescale_build_info",
            "Version and mode of this service.",
            ("version", "mode"),
            registry=r,
        )
        self.leader.set(1)
        self.is_managed: Callable[[WorkloadRef], bool] = lambda ref: True
        """Whether the loop manages a workload now (the service points it at the loop's view).
        Decisions on any other name, e.g. one a model made up, count under ``(unmanaged)``:
        untrusted text never becomes a label value, so it cannot multiply the series."""
        self._known: set[WorkloadRef] = set()
        self._situations_seen: object = None

    def _gauge(self, name: str, documentation: str) -> Gauge:
        return Gauge(
            f"claudescale_workload_{name}", documentation, WORKLOAD, registry=self.registry
        )

    # -- recording ----------------------------------------------------------------------

    def _managed(self, ref: WorkloadRef | None) -> WorkloadRef | None:
        if ref is None or not self.is_managed(ref):
            return None
        self._known.add(ref)
        return ref

    def observe_verdict(
        self,
        ref: WorkloadRef | None,
        source: str,
        outcome: str,
        code: str,
        from_replicas: int | None,
        to_replicas: int | None,
    ) -> None:
        """Count one decision; an executed change is also an action up or down. ``ref`` is
        None when the record named no valid workload."""
        managed = self._managed(ref)
        labels = UNMANAGED if managed is None else _labels(managed)
        self.decisions.labels(*labels, source, outcome, code).inc()
        if outcome != Outcome.EXECUTED or from_replicas is None or to_replicas is None:
            return
        if to_replicas != from_replicas:
            direction = "up" if to_replicas > from_replicas else "down"
            self.actions.labels(*labels, direction).inc()

    def observe_decision(self, decision: Decision) -> None:
        """A decision of the loop's own (a hold)."""
        self.observe_verdict(
            decision.ref,
            decision.source,
            decision.outcome.value,
            decision.code.value,
            decision.from_replicas,
            decision.to_replicas,
        )

    def observe_record(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Learn from one audit record that was just written."""
        self.audit_records.labels(kind).inc()
        ref = _parsed(fields.get("workload"))
        if kind == "verdict":
            self.observe_verdict(
                ref,
                str(fields.get("source", "")),
                str(fields.get("outcome", "")),
                str(fields.get("code", "")),
                fields.get("from"),
                fields.get("to"),
            )
            return
        if kind not in ("evaluation", "external_change") or (managed := self._managed(ref)) is None:
            return
        if kind == "evaluation" and isinstance(reading := fields.get("reading"), dict):
            self.cpu_utilisation.labels(*_labels(managed)).set(_ratio(reading.get("percent")))
            self.cpu_age.labels(*_labels(managed)).set(float(reading.get("age_s") or 0.0))
        elif kind == "external_change":
            self.external_changes.labels(*_labels(managed)).inc()

    def observe_consult(self, proposer: str, result: str, latency_s: float) -> None:
        self.proposer_latency.labels(proposer).observe(max(0.0, latency_s))
        self.model_consults.labels(proposer, result).inc()

    def set_workload(self, situation: WorkloadSituation, *, cpu_target_percent: float) -> None:
        """Per-workload gauges from the loop's view of one workload in its last cycle."""
        ref, limits, reading = situation.ref, situation.limits, situation.reading
        self._known.add(ref)
        labels = _labels(ref)
        self.desired_replicas.labels(*labels).set(situation.replicas)
        self.ready_replicas.labels(*labels).set(situation.ready_pods)
        self.min_replicas.labels(*labels).set(limits.min_replicas)
        self.max_replicas.labels(*labels).set(limits.max_replicas)
        self.scale_down_below.labels(*labels).set(_ratio(limits.scale_down_cpu_below_percent))
        self.cpu_target.labels(*labels).set(_ratio(cpu_target_percent))
        self.cpu_utilisation.labels(*labels).set(_ratio(reading.percent))
        self.cpu_age.labels(*labels).set(reading.age_s)
        self.external_controller.labels(*labels).set(1 if situation.external_controller else 0)
        for direction in ("up", "down"):
            # Start each workload's action counters at 0, so the first action is an increase
            # that rate() and increase() can see (a series born at 1 shows none).
            self.actions.labels(*labels, direction)

    def set_cooldowns(self, ref: WorkloadRef, up_s: float, down_s: float) -> None:
        self.cooldown_remaining.labels(*_labels(ref), "up").set(up_s)
        self.cooldown_remaining.labels(*_labels(ref), "down").set(down_s)

    def forget_workload(self, ref: WorkloadRef) -> None:
        """Drop every series of a workload that is no longer managed."""
        self._known.discard(ref)
        for metric in (self.decisions, self.actions, self.cooldown_remaining):
            for labels in _series_of(metric, ref):
                metric.remove(*labels)
        for gauge in (
            self.external_changes,
            self.desired_replicas,
            self.ready_replicas,
            self.min_replicas,
            self.max_replicas,
            self.cpu_utilisation,
            self.cpu_age,
            self.scale_down_below,
            self.cpu_target,
            self.external_controller,
        ):
            if _labels(ref) in _label_sets(gauge):
                gauge.remove(*_labels(ref))

    def refresh(
        self,
        status: LoopStatus,
        settings: Settings,
        clock: Clock,
        *,
        history: Callable[[WorkloadRef], History],
        approvals: ApprovalStore,
    ) -> None:
        """Copy the loop's latest view into the gauges (called before each scrape).

        Cooldowns are computed now from the executor's ``history``; the other per-workload
        gauges change when a new cycle has seen the cluster, and workloads absent from its
        situations (and not in flight) are forgotten.
        """
        now = clock.now()
        self.info.clear()
        self.info.labels(__version__, settings.mode.value).set(1)
        self.cycles.set(status.cycles)
        since = status.blind_since
        blind = status.health is Health.BLIND and since is not None
        self.blind_seconds.set(max(0.0, now - since) if blind and since is not None else 0.0)
        ages = pending_ages_s(approvals, clock)
        self.approvals_pending.set(len(ages))
        self.approvals_oldest_age.set(max(ages, default=0.0))
        if status.health is not Health.SEEING:
            return
        new_cycle = status.situations is not self._situations_seen
        self._situations_seen = status.situations
        for situation in status.situations:
            if new_cycle:
                target = settings.loop.target_cpu_percent
                self.set_workload(situation, cpu_target_percent=target)
            left = cooldowns_remaining_s(history(situation.ref), situation.limits, now)
            self.set_cooldowns(situation.ref, *left)
        current = {situation.ref for situation in status.situations}
        for gone in self._known - current - status.in_flight:
            self.forget_workload(gone)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def pending_ages_s(approvals: ApprovalStore, clock: Clock) -> list[float]:
    """Seconds each pending approval has waited; none when the store cannot be read."""
    try:
        stored = approvals.list()
    except StateError:
        return []
    wall = clock.wall()
    return [max(0.0, wall - a.created_at) for a in stored if a.status is Status.PENDING]


def _label_sets(metric: Counter | Gauge | Histogram) -> set[tuple[str, ...]]:
    # prometheus-client offers no public way to list a metric's children.
    return {tuple(labels) for labels in metric._metrics}


def _series_of(metric: Counter | Gauge, ref: WorkloadRef) -> list[tuple[str, ...]]:
    return [labels for labels in _label_sets(metric) if labels[:2] == _labels(ref)]
