"""Emergency overrides: an operator widens (or tightens) a guardrail for a while.

Layer: orchestration support (a local state file, ``overrides.json`` in the state directory,
see ``claudescale.control.state_file``). Started from the CLI with who and why and a duration
no longer than ``approvals.override_max_s``, within the ceilings of the settings file
(``claudescale.core.override_ceilings``); the executor checks each active one against them
again before applying it to the limits of a proposal (a file edited by hand past them is
skipped) and audits their start, every use, every skip and their expiry. An override expires by
itself: ``active`` compares its end with the clock, whether or not anyone marked it expired.

This is the only way besides the operator's settings to widen a guardrail: nothing in a
proposal, a model reply or an MCP tool argument reaches it.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.control.state_file import Json, LockedDocument, add_event
from claudescale.core.limits import Limits
from claudescale.core.override_ceilings import OverrideCeilings, override_problem
from claudescale.core.values import WorkloadRef
from claudescale.ports import Clock

EVERY_WORKLOAD = "*"
MIN_WHY_LETTERS = 3


@dataclass(frozen=True, slots=True)
class Override:
    id: str
    workload: str
    """``namespace/name``, or ``*`` for every workload."""
    changes: tuple[tuple[str, Any], ...]
    """Guardrail fields (``Limits``) and their values while the override lasts."""
    who: str
    why: str
    started_at: float
    expires_at: float
    ended_at: float | None = None
    ended_by: str = ""

    @classmethod
    def from_record(cls, record: Json) -> Override:
        ended = record.get("ended_at")
        return cls(
            id=str(record["id"]),
            workload=str(record["workload"]),
            changes=tuple(sorted(dict(record["changes"]).items())),
            who=str(record["who"]),
            why=str(record["why"]),
            started_at=float(record["started_at"]),
            expires_at=float(record["expires_at"]),
            ended_at=None if ended is None else float(ended),
            ended_by=str(record.get("ended_by", "")),
        )

    def applies_to(self, ref: WorkloadRef) -> bool:
        return self.workload in (EVERY_WORKLOAD, str(ref))

    def active_at(self, wall: float) -> bool:
        return self.ended_at is None and self.started_at - 1.0 <= wall < self.expires_at


class OverrideStore:
    """Overrides, persisted under ``path``; safe across processes."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.document = LockedDocument(path)
        self._clock = clock

    def start(
        self,
        *,
        workload: str,
        changes: Mapping[str, Any],
        who: str,
        why: str,
        duration_s: float,
        max_duration_s: float,
        ceilings: OverrideCeilings,
        base: Limits,
    ) -> Override:
        """Start an override; raises ValueError with one sentence when it is not acceptable
        (no who or why, too long, an unknown guardrail or a bad value, beyond the settings'
        ``ceilings``, or loosening what ``base``, the settings' limits, says and no ceiling
        allows)."""
        if workload != EVERY_WORKLOAD:
            WorkloadRef.parse(workload)
        if not who.strip():
            raise ValueError("An override must name who starts it.")
        if sum(ch.isalpha() for ch in why) < MIN_WHY_LETTERS:
            raise ValueError("An override must say why, in words.")
        if not changes:
            raise ValueError("An override must change at least one guardrail.")
        if not 0 < duration_s <= max_duration_s:
            raise ValueError(
                f"An override lasts more than 0 and at most {max_duration_s:g} s, "
                f"not {duration_s:g} s."
            )
        problem = override_problem(
            changes, base, ceilings, every_workload=workload == EVERY_WORKLOAD
        )
        if problem is not None:
            raise ValueError(problem)
        now = self._clock.wall()
        with self.document.transaction() as doc:
            records: list[Json] = doc.setdefault("overrides", [])
            taken = {r.get("id") for r in records}
            override_id = "o-" + secrets.token_hex(5)
            while override_id in taken:
                override_id = "o-" + secrets.token_hex(5)
            record: Json = {
                "id": override_id,
                "workload": workload,
                "changes": dict(changes),
                "who": who,
                "why": why.strip(),
                "started_at": now,
                "expires_at": now + duration_s,
                "ended_at": None,
            }
            add_event(record, "started", now, actor=who)
            records.append(record)
        return Override.from_record(record)

    def end(self, override_id: str, *, who: str) -> Override | None:
        """End an override early; None when there is no such active override."""
        now = self._clock.wall()
        with self.document.transaction() as doc:
            for record in doc.get("overrides", []):
                if record["id"] == override_id and Override.from_record(record).active_at(now):
                    record.update(ended_at=now, ended_by=who)
                    add_event(record, "ended", now, actor=who)
                    return Override.from_record(record)
        return None

    def list(self, *, include_inactive: bool = False) -> builtins.list[Override]:
        now = self._clock.wall()
        overrides = (Override.from_record(r) for r in self.document.read().get("overrides", []))
        return [o for o in overrides if include_inactive or o.active_at(now)]

    def active(self, ref: WorkloadRef) -> builtins.list[Override]:
        """The overrides in force for ``ref`` now, oldest first (later ones win)."""
        if not self.path.exists():
            return []
        return [o for o in self.list() if o.applies_to(ref)]

    def expire_due(self) -> builtins.list[Override]:
        """Mark overrides whose time is up as expired (for the audit log); returns them."""
        now = self._clock.wall()
        if not self.path.exists():
            return []
        expired: list[Override] = []
        with self.document.transaction() as doc:
            for record in doc.get("overrides", []):
                if record.get("ended_at") is None and now >= float(record["expires_at"]):
                    record.update(ended_at=float(record["expires_at"]), ended_by="expiry")
                    add_event(record, "expired", now, actor=str(record["who"]))
                    expired.append(Override.from_record(record))
        return expired

    def prune(self, retention_s: float) -> int:
        cutoff = self._clock.wall() - retention_s
        if not self.path.exists():
            return 0
        with self.document.transaction() as doc:
            records = doc.get("overrides", [])
            kept = [
                r
                for r in records
                if r.get("ended_at") is None
                or float(r["ended_at"]) >= cutoff
                or not all(e.get("audited") for e in r.get("events", ()))
            ]
            if len(kept) != len(records):
                doc["overrides"] = kept
            return len(records) - len(kept)


def apply(limits: Limits, overrides: list[Override]) -> Limits:
    """``limits`` with the overrides' changes, in order; raises ValueError when the result
    is not a valid set of limits (for example a minimum above the maximum)."""
    for override in overrides:
        limits = limits.with_overrides(override.changes)
    return limits


def beyond_ceilings(
    override: Override, base: Limits, ceilings: OverrideCeilings, max_duration_s: float
) -> str | None:
    """Why a stored override may not apply on top of ``base`` (edited by hand past the
    settings' ceilings, or to last longer than ``approvals.override_max_s``); None if it may."""
    if override.expires_at - override.started_at > max_duration_s:
        return (
            f"override {override.id} lasts {override.expires_at - override.started_at:g} s, "
            f"longer than approvals.override_max_s={max_duration_s:g} s."
        )
    try:
        problem = override_problem(
            override.changes, base, ceilings, every_workload=override.workload == EVERY_WORKLOAD
        )
    except ValueError as exc:
        problem = str(exc)
    return None if problem is None else f"override {override.id}: {problem}"
