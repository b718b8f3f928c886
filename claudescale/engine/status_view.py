"""What ``GET /status`` answers and ``claudescale status`` shows: each managed workload as
``kubectl describe hpa`` would (replicas, bounds, CPU, cooldowns left, the last decisions,
the pending approvals), as plain JSON values.

Layer: engine (a view). ``service_status`` reads the poll loop's latest cycle, the executor's
cooldown history and the approvals store; it reads nothing from the cluster or Prometheus and
changes nothing. The entry helpers are shared with the CLI, which builds the same document
from the service's state files when no service answers. Times are ISO-8601 UTC; text from a
model or the cluster is passed through as is (the renderer escapes it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from claudescale.config import Settings
from claudescale.control.approval_values import Approval
from claudescale.core.situation import WorkloadSituation, cooldowns_remaining_s
from claudescale.core.values import History, WorkloadRef
from claudescale.engine.loop_memory import Decision, LoopStatus
from claudescale.logs import iso_utc

LAST_DECISIONS = 5
"""How many of each workload's latest decisions the status shows, newest first."""


def decision_entry(
    *,
    at_wall_s: float,
    source: str,
    outcome: str,
    code: str,
    from_replicas: int | None,
    to_replicas: int | None,
    message: str,
) -> dict[str, Any]:
    return {
        "at": iso_utc(at_wall_s),
        "at_unix_s": round(at_wall_s, 3),
        "source": source,
        "outcome": outcome,
        "code": code,
        "from": from_replicas,
        "to": to_replicas,
        "message": message,
    }


def approval_entry(approval: Approval, now_wall_s: float) -> dict[str, Any]:
    return {
        "id": approval.id,
        "status": approval.status.value,
        "from": approval.from_replicas,
        "to": approval.to_replicas,
        "risk": approval.risk,
        "proposed_by": approval.actor,
        "reason": approval.reason,
        "expires_in_s": round(max(0.0, approval.expires_at - now_wall_s), 1),
    }


def pending_by_workload(
    approvals: Iterable[Approval], now_wall_s: float
) -> dict[str, list[dict[str, Any]]]:
    pending: dict[str, list[dict[str, Any]]] = {}
    for approval in approvals:
        pending.setdefault(approval.workload, []).append(approval_entry(approval, now_wall_s))
    return pending


def service_status(
    loop: LoopStatus,
    settings: Settings,
    *,
    history: Callable[[WorkloadRef], History],
    approvals: Sequence[Approval],
    kill_switch: bool,
    now_s: float,
    now_wall_s: float,
) -> dict[str, Any]:
    """The document of a running service (``source: service``), cooldowns as of now."""
    pending = pending_by_workload(approvals, now_wall_s)
    decisions: dict[WorkloadRef, list[Decision]] = {}
    for decision in loop.recent:
        decisions.setdefault(decision.ref, []).append(decision)
    workloads = [
        _workload(situation, decisions.get(situation.ref, []), history, pending, now_s, now_wall_s)
        for situation in sorted(loop.situations, key=lambda s: s.ref)
    ]
    return {
        "source": "service",
        "at": iso_utc(now_wall_s),
        "mode": settings.mode.value,
        "kill_switch": kill_switch,
        "loop_health": loop.health.value,
        "cycles": loop.cycles,
        "blind_reason": loop.blind_reason,
        "workloads": workloads,
        "unlisted_approvals": {
            name: entries
            for name, entries in pending.items()
            if name not in {str(s.ref) for s in loop.situations}
        },
    }


def _workload(
    situation: WorkloadSituation,
    recent: list[Decision],
    history: Callable[[WorkloadRef], History],
    pending: dict[str, list[dict[str, Any]]],
    now_s: float,
    now_wall_s: float,
) -> dict[str, Any]:
    ref, limits, reading = situation.ref, situation.limits, situation.reading
    percent = reading.percent
    up_s, down_s = cooldowns_remaining_s(history(ref), limits, now_s)
    last = [
        decision_entry(
            at_wall_s=now_wall_s - (now_s - d.at),
            source=d.source,
            outcome=d.outcome.value,
            code=d.code.value,
            from_replicas=d.from_replicas,
            to_replicas=d.to_replicas,
            message=d.message,
        )
        for d in reversed(recent[-LAST_DECISIONS:])
    ]
    if not last and situation.last_decision is not None:
        held = situation.last_decision
        last = [
            decision_entry(
                at_wall_s=now_wall_s - held.age_s,
                source=held.source.value,
                outcome=held.outcome.value,
                code=held.code.value,
                from_replicas=situation.replicas,
                to_replicas=None,
                message=held.message,
            )
        ]
    return {
        "workload": str(ref),
        "replicas": situation.replicas,
        "ready_pods": situation.ready_pods,
        "min_replicas": limits.min_replicas,
        "max_replicas": limits.max_replicas,
        "cpu_percent": round(percent, 1)
        if percent is not None and math.isfinite(percent)
        else None,
        "cpu_age_s": round(reading.age_s, 1),
        "scale_down_below_cpu_percent": limits.scale_down_cpu_below_percent,
        "cooldown_up_s_left": round(up_s, 1),
        "cooldown_down_s_left": round(down_s, 1),
        "paused": situation.paused,
        "owner": situation.owner,
        "external_controller": situation.external_controller,
        "limits_error": situation.limits_error,
        "last_decisions": last,
        "pending_approvals": pending.get(str(ref), []),
    }
