"""The situational summary the poll loop hands to proposers, and the rules proposer.

Layer: orchestration (no I/O of its own). ``situation_row`` writes one plain dict per
workload, the only thing any proposer sees: a model gets it rendered into a prompt, the rules
read it back here. Nothing in a row is trusted later: the executor re-reads and re-measures
before any change. ``RulesProposer`` wraps ``claudescale.core.rules.propose_by_rules`` and
never raises for a row it is given. ``ProposerChain`` asks the model proposers in order
under one deadline per cycle and lets the rules answer for whatever they leave.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import anyio

from claudescale.config import Settings
from claudescale.core.limits import Limits
from claudescale.core.rules import propose_by_rules
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.loop_memory import Row
from claudescale.ports import AuditSink, Proposer

Refuse = Callable[[Proposal, Code, str], object]
"""Records a proposal refused before it reached the queue (the executor's ``refuse``)."""


def cooldowns_remaining_s(history: History, limits: Limits, now: float) -> tuple[float, float]:
    """Seconds until a scale-up and a scale-down would pass the cooldown rules (0: now)."""
    up = down = 0.0
    if history.last_scale_up_at is not None:
        up = max(0.0, history.last_scale_up_at + limits.cooldown_up_s - now)
    if history.last_change_at is not None:
        down = max(0.0, history.last_change_at + limits.cooldown_down_s - now)
    return up, down


def situation_row(
    state: WorkloadState,
    reading: CpuReading,
    *,
    trend_percent_per_min: float | None,
    history: History,
    settings: Settings,
    now: float,
    last_decision: Mapping[str, Any] | None = None,
) -> Row:
    """One workload as a proposer sees it: plain values, units in the keys."""
    limits_error: str | None = None
    try:
        limits = settings.limits_for(state.ref, state.overrides)
    except ValueError as exc:
        limits, limits_error = settings.guardrails, str(exc)
    up_s, down_s = cooldowns_remaining_s(history, limits, now)
    return {
        "workload": str(state.ref),
        "uid": state.uid,
        "replicas": state.replicas,
        "ready_pods": len(state.ready_pods),
        "unready_pods": len(state.unready_pods),
        "paused": state.paused,
        "owner": state.owner,
        "rollout_in_progress": state.rollout_in_progress,
        "overrides": [list(pair) for pair in state.overrides],
        "limits_error": limits_error,
        "min_replicas": limits.min_replicas,
        "max_replicas": limits.max_replicas,
        "scale_down_cpu_below_percent": limits.scale_down_cpu_below_percent,
        "cpu_percent": reading.percent,
        "cpu_age_s": reading.age_s,
        "cpu_missing_pods": list(reading.missing_pods),
        "cpu_pods_without_request": list(reading.pods_without_request),
        "cpu_trend_percent_per_min": trend_percent_per_min,
        "cooldown_up_remaining_s": round(up_s, 3),
        "cooldown_down_remaining_s": round(down_s, 3),
        "external_controller": history.external_controller,
        "last_decision": dict(last_decision) if last_decision is not None else None,
    }


class RulesProposer:
    """HPA-style proportional control on the rows; always the last proposer of a chain."""

    name = "rules"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def propose(self, situation: Sequence[Mapping[str, Any]]) -> list[Proposal]:
        return [self.propose_one(row) for row in situation]

    def propose_one(self, row: Mapping[str, Any]) -> Proposal:
        ref = WorkloadRef.parse(str(row["workload"]))
        replicas = int(row["replicas"])
        if row.get("limits_error"):
            return _hold(
                ref,
                replicas,
                f"Holding at {replicas} replicas: the workload's claudescale.io annotations "
                f"are invalid ({row['limits_error']}).",
            )
        limits = self._settings.limits_for(
            ref, tuple((str(k), str(v)) for k, v in row.get("overrides") or ())
        )
        state = WorkloadState(
            ref=ref,
            uid=str(row.get("uid", "")),
            replicas=replicas,
            resource_version="",
            ready_replicas=int(row.get("ready_pods", 0)),
            paused=bool(row.get("paused", False)),
        )
        percent = row.get("cpu_percent")
        reading = CpuReading(
            percent=None if percent is None else float(percent),
            age_s=float(row.get("cpu_age_s", math.inf)),
            missing_pods=tuple(row.get("cpu_missing_pods") or ()),
            pods_without_request=tuple(row.get("cpu_pods_without_request") or ()),
        )
        if reading.pods_without_request:
            return _hold(
                ref,
                replicas,
                f"Holding at {replicas} replicas: ready pods "
                f"{', '.join(reading.pods_without_request[:2])} have no CPU request, so "
                "utilisation is undefined.",
            )
        loop = self._settings.loop
        trend = row.get("cpu_trend_percent_per_min")

        def rules(on: CpuReading) -> Proposal:
            return propose_by_rules(
                state,
                on,
                limits,
                target_cpu_percent=loop.target_cpu_percent,
                tolerance=loop.tolerance,
                trend_percent_per_min=None if trend is None else float(trend),
                lookahead_s=loop.lookahead_s,
            )

        proposal = rules(reading)
        unready = int(row.get("unready_pods", 0))
        if proposal.action is not Action.SCALE_UP or unready <= 0 or reading.percent is None:
            return proposal
        # As the HPA does, pods that are not ready yet count at 0% for a scale-up: pods that
        # never become ready must not make every cooldown add more of them.
        ready = int(row.get("ready_pods", 0))
        diluted = replace(reading, percent=reading.percent * ready / (ready + unready))
        damped = rules(diluted)
        prefix = f"Counting {unready} pods that are not ready yet at 0%: "
        return replace(damped, reason=_fit(prefix + damped.reason, limits.reason_max_chars))


def _fit(reason: str, max_chars: int) -> str:
    return reason if len(reason) <= max_chars else reason[: max_chars - 1] + "…"


def _hold(ref: WorkloadRef, replicas: int, reason: str) -> Proposal:
    return Proposal(ref, Action.HOLD, replicas, reason, Source.RULES, from_replicas=replicas)


class ProposerChain:
    """The model proposers in order, then the rules for every workload still unanswered.

    The models share one deadline per cycle (``loop.proposer_deadline_s``); a model that
    fails or is late is skipped and audited as ``llm_unavailable``. A proposal for a workload
    that was not asked about (or already answered for) is refused as ``invalid_target``.
    """

    def __init__(
        self,
        models: Sequence[Proposer],
        settings: Settings,
        *,
        audit: AuditSink,
        refuse: Refuse,
    ) -> None:
        self._models = tuple(models)
        self._rules = RulesProposer(settings)
        self._deadline_s = settings.loop.proposer_deadline_s
        self._audit = audit
        self._refuse = refuse

    async def ask(self, rows: Sequence[Row]) -> list[Proposal]:
        """One proposal per row at most (holds included), models first."""
        remaining = {str(row["workload"]): row for row in rows}
        chosen: list[Proposal] = []
        budget_ends = anyio.current_time() + self._deadline_s
        for model in self._models:
            if not remaining:
                break
            deadline_s = max(0.0, budget_ends - anyio.current_time())
            answer = await _ask_model(model, list(remaining.values()), deadline_s)
            if isinstance(answer, str):
                failure = answer or (
                    f"Proposer {model.name} did not answer within the cycle's "
                    f"{self._deadline_s:g} s"
                )
                self._audit.append(
                    "proposer_unavailable",
                    {
                        "proposer": model.name,
                        "code": Code.LLM_UNAVAILABLE.value,
                        "workloads": len(remaining),
                        "message": f"{failure}; the next proposer answers instead.",
                    },
                )
                continue
            chosen.extend(self._accept(model.name, answer, remaining))
        if remaining:
            answer = await self._rules.propose(list(remaining.values()))
            chosen.extend(self._accept(self._rules.name, answer, remaining))
        return chosen

    def _accept(
        self, name: str, answer: Sequence[Proposal], remaining: dict[str, Row]
    ) -> list[Proposal]:
        accepted = []
        for proposal in answer:
            if remaining.pop(str(proposal.ref), None) is None:
                self._refuse(
                    proposal,
                    Code.INVALID_TARGET,
                    f"Refused a proposal from {name} for {proposal.ref}: that workload was not "
                    "asked about, or already answered for, in this cycle.",
                )
                continue
            accepted.append(proposal)
        return accepted


async def _ask_model(
    proposer: Proposer, rows: list[Row], deadline_s: float
) -> Sequence[Proposal] | str:
    """The proposer's answer, or why there is none ("" when the deadline passed)."""
    with anyio.move_on_after(deadline_s):
        try:
            return list(await proposer.propose(rows))
        except Exception as exc:  # a model proposer is a plug-in: its failure is a fallback
            return f"Proposer {proposer.name} failed ({type(exc).__name__}: {exc})"
    return ""
