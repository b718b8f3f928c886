"""What ``get_status``, ``get_metrics``, ``get_situation`` and ``propose_scaling`` do.

Layer: edge (the MCP assistant). Each function takes the ``Assistant`` and the tool's
arguments and returns a ``CallToolResult`` (structured content, or an ``isError`` result with
a sentence the model can act on). None of them changes the cluster; ``propose_scaling`` only
stores a preview under a single-use ID (``claudescale.assistant.proposals``). The listing
tools are in ``claudescale.assistant.listings``.
"""

from __future__ import annotations

import contextlib

from mcp.types import CallToolResult

from claudescale.assistant.consult import prompt_for
from claudescale.assistant.outputs import (
    DecisionOut,
    MetricsOut,
    PointOut,
    PreviewOut,
    SituationOut,
    StatusOut,
    WorkloadStatusOut,
    error,
    iso,
    ok,
)
from claudescale.assistant.proposals import preview
from claudescale.assistant.runtime import Assistant, ReadFailed
from claudescale.control.change_requests import ttl_for
from claudescale.control.overrides import apply as apply_overrides
from claudescale.core.prompt import SYSTEM_PROMPT
from claudescale.core.situation import LastDecision, WorkloadSituation, cooldowns_remaining_s
from claudescale.core.values import Action, Code, CpuReading, WorkloadRef
from claudescale.engine.loop_memory import Decision
from claudescale.engine.proposers import situation_of
from claudescale.errors import MetricsUnavailable, NotFound, StateError


def unknown_workload(ref: WorkloadRef) -> CallToolResult:
    return error(
        Code.INVALID_TARGET,
        f"Workload {ref} does not exist; get_status lists the workloads claudescale manages.",
    )


def _decision_out(a: Assistant, decision: Decision | LastDecision) -> DecisionOut:
    if isinstance(decision, Decision):
        age_s = a.clock.now() - decision.at
        source, message = decision.source, decision.message
    else:
        age_s, source, message = decision.age_s, decision.source.value, decision.message
    return DecisionOut(
        source=source,
        outcome=decision.outcome.value,
        code=decision.code.value,
        message=message,
        at=iso(a.clock.wall() - age_s),
    )


async def get_status(a: Assistant) -> CallToolResult:
    """From the poll loop's latest cycle (a fresh read before its first one), so that many
    clients asking at once cost no extra cluster or Prometheus reads; cooldowns are as of now."""
    try:
        found = await situations(a)
    except ReadFailed as exc:
        return error(Code.WRITE_FAILED, str(exc))
    loop = a.controller.status()
    latest: dict[WorkloadRef, Decision | LastDecision] = {
        s.ref: s.last_decision for s in found if s.last_decision is not None
    }
    latest.update({d.ref: d for d in loop.recent})  # the executor's verdicts are newer
    now = a.clock.now()
    workloads = []
    for situation in sorted(found, key=lambda s: s.ref):
        ref, limits, reading = situation.ref, situation.limits, situation.reading
        up_s, down_s = cooldowns_remaining_s(a.executor.history(ref), limits, now)
        last = latest.get(ref)
        workloads.append(
            WorkloadStatusOut(
                namespace=ref.namespace,
                name=ref.name,
                replicas=situation.replicas,
                cpu_percent=reading.percent if reading.is_finite else None,
                min_replicas=limits.min_replicas,
                max_replicas=limits.max_replicas,
                cooldown_up_s_left=round(up_s, 3),
                cooldown_down_s_left=round(down_s, 3),
                last_decision=None if last is None else _decision_out(a, last),
            )
        )
    mode = a.settings.mode.value
    return ok(StatusOut(mode=mode, kill_switch=a.kill_switch_on(), workloads=workloads))


async def get_metrics(
    a: Assistant, namespace: str, name: str, window_minutes: int
) -> CallToolResult:
    ref = WorkloadRef(namespace, name)
    try:
        state = await a.read(ref)
    except NotFound:
        return unknown_workload(ref)
    except ReadFailed as exc:
        return error(Code.WRITE_FAILED, str(exc))
    try:
        found = await a.history.series(state, window_minutes * 60.0)
    except MetricsUnavailable as exc:
        return error(Code.METRIC_STALE, f"The CPU series of {ref} cannot be read now: {exc}")
    points = [PointOut(at=iso(p.at), cpu_percent=p.cpu_percent, replicas=p.replicas) for p in found]
    out = MetricsOut(namespace=namespace, name=name, window_minutes=window_minutes, points=points)
    return ok(out)


async def situations(a: Assistant) -> list[WorkloadSituation]:
    """The poll loop's latest situations; a fresh read when the loop has seen nothing yet."""
    seen = list(a.controller.status().situations)
    if seen:
        return seen
    states = await a.read_all()
    readings = await a.cpu(states)
    now = a.clock.now()
    return [
        situation_of(
            state,
            readings.get(state.ref) or CpuReading(None),
            trend_percent_per_min=None,
            history=a.executor.history(state.ref),
            settings=a.settings,
            now=now,
        )
        for state in states
    ]


async def get_situation(a: Assistant) -> CallToolResult:
    try:
        found = await situations(a)
    except ReadFailed as exc:
        return error(Code.WRITE_FAILED, str(exc))
    return ok(SituationOut(system_prompt=SYSTEM_PROMPT, prompt=prompt_for(a.settings, found)))


async def propose_scaling(
    a: Assistant, namespace: str, name: str, target_replicas: int, reason: str, actor: str
) -> CallToolResult:
    ref = WorkloadRef(namespace, name)
    try:
        state = await a.read(ref)
    except NotFound:
        return unknown_workload(ref)
    except ReadFailed as exc:
        return error(Code.WRITE_FAILED, str(exc))
    if not state.managed:
        return error(
            Code.INVALID_TARGET,
            f"Workload {ref} is not managed by claudescale (not opted in, or not in a "
            "managed namespace); nothing was stored.",
        )
    try:
        limits = a.settings.limits_for(ref, state.overrides)
    except ValueError as exc:
        return error(
            Code.INVALID_TARGET, f"Workload {ref} has invalid claudescale.io annotations: {exc}"
        )
    # The executor audits a broken override when it meets it; a preview just goes without.
    with contextlib.suppress(ValueError, StateError):
        limits = apply_overrides(limits, a.executor.control.overrides.active(ref))
    action = Action.HOLD if target_replicas == state.replicas else None
    reading = None if action is Action.HOLD else (await a.cpu([state])).get(ref)
    result = preview(
        state,
        reading,
        history=a.executor.history(ref),
        limits=limits,
        settings=a.settings,
        target_replicas=target_replicas,
        reason=reason,
        kill_switch=a.kill_switch_on(),
        now=a.clock.now(),
    )
    verdict = result.verdict
    stored = None
    if verdict.code is Code.APPROVAL_REQUIRED and result.risk is not None:
        stored = a.book.add(state, target_replicas, reason, result.risk, ttl_for(a.settings, ref))
    a.audit.append(
        "mcp_preview",
        {
            "workload": str(ref),
            "source": "mcp_client",
            "actor": actor,
            "from": state.replicas,
            "to": target_replicas,
            "code": verdict.code.value,
            "proposal_id": stored.id if stored else "",
        },
    )
    return ok(
        PreviewOut(
            workload=str(ref),
            outcome=verdict.outcome.value,
            code=verdict.code.value,
            message=verdict.message,
            from_replicas=state.replicas,
            to_replicas=target_replicas,
            risk=result.risk.level.value if result.risk else None,
            proposal_id=stored.id if stored else None,
            expires_at=iso(stored.expires_at) if stored else None,
        )
    )
