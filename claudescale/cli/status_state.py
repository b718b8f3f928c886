"""``claudescale status`` without a running service: the same document as ``GET /status``,
built from the service's state (its audit log and its approvals store).

Layer: edge (CLI). It streams the audit log once (constant memory per workload), keeping
each workload's latest evaluation (replicas, CPU, limits) and its latest verdicts; cooldowns
left are counted on the wall clock from the last executed change it recorded. It changes
nothing, and it cannot know about changes nobody recorded (another writer, a lost log): the
document says it is the state as of the log's last record.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from claudescale.audit import iter_records
from claudescale.config import Settings, state_dir_for
from claudescale.control.stores import ControlStores
from claudescale.core.values import WorkloadRef
from claudescale.engine.status_view import LAST_DECISIONS, decision_entry, pending_by_workload
from claudescale.errors import ClaudescaleError
from claudescale.logs import iso_utc
from claudescale.ports import Clock


@dataclass(slots=True)
class _Seen:
    """What the audit log says about one workload, latest first where it matters."""

    evaluation: dict[str, Any] | None = None
    replicas: int | None = None
    """The latest count recorded: an evaluation's read, or the target of a later write."""
    decisions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LAST_DECISIONS))
    last_up_wall_s: float | None = None
    last_change_wall_s: float | None = None


def state_status(settings: Settings, clock: Clock, *, service_url: str) -> dict[str, Any]:
    """The status document (``source: state``) from the audit log and the approvals store."""
    now_wall_s = clock.wall()
    seen: dict[str, _Seen] = {}
    last_ts: float | None = None
    problem: str | None = None
    path = settings.audit.path
    try:
        for record in iter_records(path) if path.exists() else ():
            last_ts = float(record.get("ts", 0.0)) or last_ts
            workload = record.get("workload")
            if isinstance(workload, str):
                _note(seen.setdefault(workload, _Seen()), record)
    except ClaudescaleError as exc:
        problem = f"{exc} Only the records before it are shown."
    stores = ControlStores.open(state_dir_for(settings), settings, clock)
    pending = pending_by_workload(stores.approvals.list(), now_wall_s)
    names = sorted(set(seen) | set(pending))
    workloads = [
        _workload(name, seen.get(name, _Seen()), settings, pending, now_wall_s) for name in names
    ]
    return {
        "source": "state",
        "at": iso_utc(now_wall_s),
        "as_of": None if last_ts is None else iso_utc(last_ts),
        "service_url": service_url,
        "audit_path": str(path.absolute()),
        "audit_problem": problem,
        "mode": settings.mode.value,
        "kill_switch": settings.approvals.kill_switch or stores.kill_switch_file.exists(),
        "workloads": workloads,
    }


def _note(seen: _Seen, record: dict[str, Any]) -> None:
    kind, ts = record.get("kind"), float(record.get("ts", 0.0))
    if kind == "evaluation":
        seen.evaluation = record
        seen.replicas = (record.get("state") or {}).get("replicas")
    elif kind == "verdict":
        before, after, outcome = record.get("from"), record.get("to"), record.get("outcome")
        seen.decisions.appendleft(
            decision_entry(
                at_wall_s=ts,
                source=str(record.get("source", "")),
                outcome=str(outcome),
                code=str(record.get("code", "")),
                from_replicas=before,
                to_replicas=after,
                message=str(record.get("message", "")),
            )
        )
        if outcome == "executed" and isinstance(before, int) and isinstance(after, int):
            seen.last_change_wall_s = ts
            seen.replicas = after
            if after > before:
                seen.last_up_wall_s = ts


def _workload(
    name: str,
    seen: _Seen,
    settings: Settings,
    pending: dict[str, list[dict[str, Any]]],
    now_wall_s: float,
) -> dict[str, Any]:
    evaluation = seen.evaluation or {}
    state = evaluation.get("state") or {}
    reading = evaluation.get("reading") or {}
    limits = evaluation.get("limits") or _configured_limits(settings, name)
    percent = reading.get("percent")
    return {
        "workload": name,
        "replicas": seen.replicas,
        "ready_pods": _ready(state.get("pods")),
        "min_replicas": limits.get("min_replicas"),
        "max_replicas": limits.get("max_replicas"),
        "cpu_percent": round(percent, 1) if isinstance(percent, int | float) else None,
        "cpu_age_s": None,
        "scale_down_below_cpu_percent": limits.get("scale_down_cpu_below_percent"),
        "cooldown_up_s_left": _left(seen.last_up_wall_s, limits.get("cooldown_up_s"), now_wall_s),
        "cooldown_down_s_left": _left(
            seen.last_change_wall_s, limits.get("cooldown_down_s"), now_wall_s
        ),
        "paused": state.get("paused"),
        "owner": state.get("owner"),
        "external_controller": (evaluation.get("history") or {}).get("external_controller"),
        "limits_error": None,
        "last_decisions": list(seen.decisions),
        "pending_approvals": pending.get(name, []),
    }


def _ready(pods: Any) -> int | None:
    """Ready pods that are not terminating, from an evaluation's ``[name, ready, terminating,
    request]`` rows."""
    if not isinstance(pods, list):
        return None
    return sum(
        1 for pod in pods if isinstance(pod, list) and len(pod) > 2 and pod[1] and not pod[2]
    )


def _configured_limits(settings: Settings, name: str) -> dict[str, Any]:
    try:
        ref = WorkloadRef.parse(name)
    except ValueError:
        return settings.guardrails.model_dump(mode="json")
    limits, _ = settings.limits_or_base(ref)
    return limits.model_dump(mode="json")


def _left(since_wall_s: float | None, cooldown_s: Any, now_wall_s: float) -> float:
    if since_wall_s is None or not isinstance(cooldown_s, int | float):
        return 0.0
    return round(max(0.0, since_wall_s + cooldown_s - now_wall_s), 1)
