"""Previews of chat-driven changes and the book of single-use proposal IDs.

Layer: edge (the MCP assistant). ``preview`` is a pure function of a fresh read: the verdict
the executor's own pure decision (``core.decision.decide``: the guardrails, the risk, the mode
gate) would give a change asked for by an MCP client right now. It changes nothing and audits
nothing; the executor decides again on its own fresh read when the
change is carried out. ``ProposalBook`` keeps each allowed preview under a random,
single-use ``proposal_id`` that expires (5 minutes, 10 in production namespaces). A proposal
ID is only a handle on a stored change: it never approves anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from enum import StrEnum

from claudescale.config import Settings
from claudescale.core.decision import Step, decide
from claudescale.core.guardrails import Situation
from claudescale.core.limits import Limits
from claudescale.core.risk import Risk
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    Outcome,
    Proposal,
    Source,
    Verdict,
    WorkloadRef,
    WorkloadState,
)
from claudescale.ports import Clock

PROPOSAL_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class Preview:
    """What the gate would say now, and how risky the change is (None when refused early)."""

    proposal: Proposal
    verdict: Verdict
    risk: Risk | None


def action_for(from_replicas: int, to_replicas: int) -> Action:
    if to_replicas > from_replicas:
        return Action.SCALE_UP
    if to_replicas < from_replicas:
        return Action.SCALE_DOWN
    return Action.HOLD


def preview(
    state: WorkloadState,
    reading: CpuReading | None,
    *,
    history: History,
    limits: Limits,
    settings: Settings,
    target_replicas: int,
    reason: str,
    kill_switch: bool,
    now: float,
) -> Preview:
    """The verdict an MCP client's change would get now, from the executor's own pure
    decision (``core.decision.decide``). A change that passes needs the user's confirmation
    (an MCP client is a human source), so its outcome is ``pending`` with
    ``approval_required``."""
    proposal = Proposal(
        ref=state.ref,
        action=action_for(state.replicas, target_replicas),
        target_replicas=target_replicas,
        reason=reason,
        source=Source.MCP_CLIENT,
        from_replicas=state.replicas,
    )
    decision = decide(
        Situation(state, reading, history, limits, now),
        proposal,
        mode=settings.mode.value,
        kill_switch=kill_switch,
        risk_settings=settings.risk,
        approved=False,
    )
    if decision.step is Step.STOP or decision.risk is None:
        return Preview(proposal, decision.verdict, decision.risk)
    ref, before, after = state.ref, state.replicas, target_replicas
    verdict = Verdict(
        Outcome.PENDING,
        Code.APPROVAL_REQUIRED,
        f"Scaling {ref} {before}→{after} passes the guardrails now ({decision.risk.summary}); "
        "it needs the user's confirmation: call apply_scaling with this proposal_id.",
        before,
        after,
    )
    return Preview(proposal, verdict, decision.risk)


class Status(StrEnum):
    OPEN = "open"
    USED = "used"


@dataclass(frozen=True, slots=True)
class StoredProposal:
    """A previewed change bound to the object version it was previewed on."""

    id: str
    ref: WorkloadRef
    uid: str
    from_replicas: int
    to_replicas: int
    resource_version: str
    reason: str
    risk: Risk
    created_at: float
    """Wall time, Unix seconds."""
    expires_at: float
    """Wall time, Unix seconds."""
    expires_mono: float
    """The same deadline on the monotonic clock, which a wall-clock jump cannot stretch."""
    status: Status = Status.OPEN

    @property
    def action(self) -> Action:
        return action_for(self.from_replicas, self.to_replicas)

    @property
    def change(self) -> str:
        return f"{self.ref} {self.from_replicas}→{self.to_replicas}"

    def state(self) -> WorkloadState:
        """The workload as it was when previewed (what an approval is bound to)."""
        return WorkloadState(
            ref=self.ref,
            uid=self.uid,
            replicas=self.from_replicas,
            resource_version=self.resource_version,
        )


@dataclass(frozen=True, slots=True)
class Lookup:
    """A stored proposal, or the code and sentence saying why there is none to use."""

    proposal: StoredProposal | None
    code: Code = Code.OK
    message: str = ""


class ProposalBook:
    """Stored previews by ID, in memory: IDs die with the process, as they should."""

    def __init__(self, clock: Clock, *, max_open: int = 1000) -> None:
        self._clock = clock
        self._max_open = max_open
        self._proposals: dict[str, StoredProposal] = {}

    def add(
        self, state: WorkloadState, target_replicas: int, reason: str, risk: Risk, ttl_s: float
    ) -> StoredProposal:
        self._forget_old()
        wall, mono = self._clock.wall(), self._clock.now()
        stored = StoredProposal(
            id="p-" + secrets.token_urlsafe(PROPOSAL_ID_BYTES),
            ref=state.ref,
            uid=state.uid,
            from_replicas=state.replicas,
            to_replicas=target_replicas,
            resource_version=state.resource_version,
            reason=reason,
            risk=risk,
            created_at=wall,
            expires_at=wall + ttl_s,
            expires_mono=mono + ttl_s,
        )
        self._proposals[stored.id] = stored
        return stored

    def peek(self, proposal_id: str) -> Lookup:
        """The open proposal under ``proposal_id``, without using it up."""
        stored = self._proposals.get(proposal_id)
        if stored is None:
            return Lookup(
                None,
                Code.APPROVAL_INVALID,
                f"There is no proposal {_shown(proposal_id)}: a proposal_id must come from "
                "propose_scaling in this session.",
            )
        if stored.status is Status.USED:
            return Lookup(
                None,
                Code.APPROVAL_USED,
                f"Proposal {stored.id} ({stored.change}) was already used; proposal IDs are "
                "single use.",
            )
        if self._expired(stored):
            return Lookup(
                None,
                Code.APPROVAL_EXPIRED,
                f"Proposal {stored.id} ({stored.change}) expired; call propose_scaling again.",
            )
        return Lookup(stored)

    def take(self, proposal_id: str) -> Lookup:
        """Use up the proposal (single use): later lookups say it was used."""
        found = self.peek(proposal_id)
        if found.proposal is not None:
            self._proposals[proposal_id] = replace(found.proposal, status=Status.USED)
        return found

    def open(self) -> list[StoredProposal]:
        return [
            p for p in self._proposals.values() if p.status is Status.OPEN and not self._expired(p)
        ]

    def _expired(self, stored: StoredProposal) -> bool:
        wall = self._clock.wall()
        moved_back = wall < stored.created_at - 1.0
        return wall >= stored.expires_at or moved_back or self._clock.now() >= stored.expires_mono

    def _forget_old(self) -> None:
        """Keep the book bounded: drop closed and expired entries beyond ``max_open``."""
        if len(self._proposals) < self._max_open:
            return
        for key, stored in list(self._proposals.items()):
            if stored.status is not Status.OPEN or self._expired(stored):
                del self._proposals[key]
        while len(self._proposals) >= self._max_open:
            del self._proposals[next(iter(self._proposals))]


def _shown(text: str) -> str:
    return repr(text[:40] + ("…" if len(text) > 40 else ""))
