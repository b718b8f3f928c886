"""The proposers the poll loop asks: the rules proposer, and the chain that asks them all.

Layer: orchestration (no I/O of its own). Every proposer sees the same typed situations
(``claudescale.core.situation.WorkloadSituation``), computed once per workload per cycle by
the poll loop with ``situation_of``: a model gets them rendered by
``claudescale.core.prompt``, the rules read them directly. Nothing in a situation is
trusted later: the executor re-reads and re-measures before any change. ``RulesProposer``
wraps ``claudescale.core.rules.propose_by_rules`` and never raises for a situation it is
given; it lives in ``claudescale.engine.rules_proposer`` with the memory it keeps between
cycles. ``ProposerChain`` asks the model proposers in order under one deadline per cycle and
lets the rules answer for whatever they leave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio

from claudescale.config import Settings
from claudescale.core.situation import LastDecision, WorkloadSituation, summarise
from claudescale.core.values import Code, CpuReading, History, Proposal, WorkloadRef, WorkloadState
from claudescale.engine.rules_proposer import RulesProposer
from claudescale.ports import AuditSink, Clock, Proposer

Refuse = Callable[[Proposal, Code, str], object]
"""Records a proposal refused before it reached the queue (``audit_fields.record_unqueued``)."""


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
        clock: Clock | None = None,
    ) -> None:
        """``clock`` lets the rules remember each workload between cycles (see
        ``RulesProposer``); the poll loop passes its own."""
        self._models = tuple(models)
        self._rules = RulesProposer(settings, clock=clock)
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
