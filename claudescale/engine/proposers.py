"""The proposers the poll loop asks: the rules proposer, and the chain that asks them all.

Layer: orchestration (no I/O of its own). Every proposer sees the same typed situations
(``claudescale.core.situation.WorkloadSituation``), computed once per workload per cycle by
the poll loop with ``situation_of``: a model gets them rendered by
``claudescale.core.prompt``, the rules read them directly. Nothing in a situation is
trusted later: the executor re-reads and re-measures before any change. ``RulesProposer``
wraps ``claudescale.core.rules.propose_by_rules`` and never raises for a situation it is
given. ``ProposerChain`` asks the model proposers in order under one deadline per cycle and
lets the rules answer for whatever they leave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import anyio

from claudescale.config import Settings
from claudescale.core.rules import propose_by_rules
from claudescale.core.situation import LastDecision, WorkloadSituation, summarise
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
from claudescale.ports import AuditSink, Proposer

Refuse = Callable[[Proposal, Code, str], object]
"""Records a proposal refused before it reached the queue (the executor's ``refuse``)."""


def situation_of(
    state: WorkloadState,
    reading: CpuReading,
    *,
    trend_percent_per_min: float | None,
    history: History,
    settings: Settings,
    now: float,
    last_decision: LastDecision | None = None,
) -> WorkloadSituation:
    """One workload as every proposer sees it this cycle, with its limits from ``settings``."""
    limits, limits_error = settings.limits_or_base(state.ref, state.overrides)
    return summarise(
        state,
        reading,
        limits=limits,
        limits_error=limits_error,
        trend_percent_per_min=trend_percent_per_min,
        history=history,
        now=now,
        last_decision=last_decision,
    )


class RulesProposer:
    """HPA-style proportional control on the situations; always the last proposer of a chain."""

    name = "rules"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        return [self.propose_one(situation) for situation in situations]

    def propose_one(self, situation: WorkloadSituation) -> Proposal:
        ref, replicas = situation.ref, situation.replicas
        if situation.limits_error:
            return _hold(
                ref,
                replicas,
                f"Holding at {replicas} replicas: the workload's claudescale.io annotations "
                f"are invalid ({situation.limits_error}).",
            )
        limits, reading = situation.limits, situation.reading
        state = WorkloadState(
            ref=ref,
            uid=situation.uid,
            replicas=replicas,
            resource_version="",
            ready_replicas=situation.ready_pods,
            paused=situation.paused,
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

        def rules(on: CpuReading) -> Proposal:
            return propose_by_rules(
                state,
                on,
                limits,
                target_cpu_percent=loop.target_cpu_percent,
                tolerance=loop.tolerance,
                trend_percent_per_min=situation.trend_percent_per_min,
                lookahead_s=loop.lookahead_s,
            )

        proposal = rules(reading)
        unready = situation.unready_pods
        if proposal.action is not Action.SCALE_UP or unready <= 0 or reading.percent is None:
            return proposal
        # As the HPA does, pods that are not ready yet count at 0% for a scale-up: pods that
        # never become ready must not make every cooldown add more of them.
        ready = situation.ready_pods
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

    async def ask(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        """One proposal per workload at most (holds included), models first."""
        remaining = {situation.ref: situation for situation in situations}
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
        self,
        name: str,
        answer: Sequence[Proposal],
        remaining: dict[WorkloadRef, WorkloadSituation],
    ) -> list[Proposal]:
        accepted = []
        for proposal in answer:
            if remaining.pop(proposal.ref, None) is None:
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
    proposer: Proposer, situations: list[WorkloadSituation], deadline_s: float
) -> Sequence[Proposal] | str:
    """The proposer's answer, or why there is none ("" when the deadline passed)."""
    with anyio.move_on_after(deadline_s):
        try:
            return list(await proposer.propose(situations))
        except Exception as exc:  # a model proposer is a plug-in: its failure is a fallback
            return f"Proposer {proposer.name} failed ({type(exc).__name__}: {exc})"
    return ""
