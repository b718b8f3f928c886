"""The executor's memory of each workload: cooldowns, recent actions, external changes.

Layer: engine (no I/O but audit records; times are monotonic seconds from the injected
clock). It is rebuilt from the audit log at start-up (``recover``), updated after every write
of ours (``after_write``) and by every fresh read (``note_read``), where a replica count that
nobody here set is an external change; reverting our changes too often sets the
``external_controller`` stop, which only an operator clears. The loop may read it
(``history``) but only the executor changes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from claudescale.config import Settings
from claudescale.core import history as hist
from claudescale.core.values import History, WorkloadRef, WorkloadState
from claudescale.ports import AuditSink, Clock


class CooldownMemory:
    def __init__(self, audit: AuditSink, clock: Clock, settings: Settings) -> None:
        self._audit, self._clock, self._settings = audit, clock, settings
        self._histories: dict[WorkloadRef, History] = {}
        self._default = History()
        self._known_at: dict[WorkloadRef, float] = {}
        """Per workload, when our newest read began or our newest write finished."""

    def history(self, ref: WorkloadRef) -> History:
        return self._histories.get(ref, self._default)

    # -- start-up ---------------------------------------------------------------------------

    def recover(self, records: Iterable[Mapping[str, Any]] | None) -> None:
        """Rebuild from the audit log. ``None`` means the log could not be trusted or read:
        assume every workload acted at start-up, so scale-downs wait a full cooldown."""
        now = self._clock.now()
        if records is None:
            self._default = hist.assumed_action_at(now)
            self._audit.append(
                "restart",
                {
                    "recovered": False,
                    "message": "Audit history unavailable; assuming an "
                    "action at start-up for every workload.",
                },
                durable=True,
            )
            return
        recovered = hist.recover(records, epoch=self._clock.epoch, now=now)
        self._histories = {WorkloadRef.parse(k): h for k, h in recovered.histories.items()}
        for intent in recovered.interrupted_intents:
            self._audit.append(
                "outcome",
                {
                    "workload": intent["workload"],
                    "intent_id": intent["intent_id"],
                    "code": "unknown",
                    "from": intent["from"],
                    "to": intent["to"],
                    "message": "The process stopped between intent and result; the write may "
                    "or may not have happened, so it counts as executed for cooldowns.",
                },
                durable=True,
            )
        self._audit.append(
            "restart",
            {
                "recovered": True,
                "workloads": len(self._histories),
                "interrupted_intents": len(recovered.interrupted_intents),
            },
            durable=True,
        )

    def seed(self, ref: WorkloadRef, last_action_at: float) -> None:
        """Declare that an action happened at ``last_action_at``: both cooldowns date from
        then. Used by replay's ``start.last_action_ago_s`` and by imports."""
        self._histories[ref] = History(
            last_scale_up_at=last_action_at, last_change_at=last_action_at
        )
        self._audit.append(
            "seeded",
            {
                "workload": str(ref),
                "last_scale_up_at": last_action_at,
                "last_change_at": last_action_at,
            },
            durable=True,
        )

    def clear_external_controller(self, ref: WorkloadRef, actor: str) -> None:
        self._histories[ref] = hist.cleared(self.history(ref))
        self._audit.append(
            "external_controller_cleared", {"workload": str(ref), "actor": actor}, durable=True
        )

    # -- reads and writes -------------------------------------------------------------------

    def note_read(self, state: WorkloadState, read_started_at: float, *, own: bool) -> None:
        """A fresh read: the executor's ``own`` before a decision, or the loop's. A loop read
        that began before our newest read or write is older than what we know: ignored."""
        ref = state.ref
        known_at = self._known_at.get(ref, -math.inf)
        if own:
            self._known_at[ref] = max(known_at, read_started_at)
        elif read_started_at < known_at:
            return
        self._note_replicas(state)

    def after_write(
        self, ref: WorkloadRef, before: int, after: int, *, landed: bool, maybe_landed: bool
    ) -> None:
        """Our write finished: ``landed`` (cooldowns start), ``maybe_landed`` (its answer was
        lost and a re-read could not tell: it counts as executed), or neither."""
        now = self._clock.now()
        if landed:
            self._histories[ref] = hist.after_action(self.history(ref), now, before, after)
        elif maybe_landed:
            self._histories[ref] = hist.after_unknown_write(self.history(ref), now, before, after)
        self._known_at[ref] = now

    def _note_replicas(self, state: WorkloadState) -> None:
        ref = state.ref
        current = self.history(ref)
        if current.last_known_replicas is None:
            self._histories[ref] = replace(current, last_known_replicas=state.replicas)
            return
        if not hist.is_external_change(current, state.replicas):
            return
        limits, _ = self._settings.limits_or_base(ref, state.overrides)
        change = hist.after_external_change(current, self._clock.now(), state.replicas, limits)
        self._histories[ref] = change.history
        self._audit.append(
            "external_change",
            {
                "workload": str(ref),
                "from": current.last_known_replicas,
                "replicas": state.replicas,
                "reversion": change.reversion,
            },
            durable=True,
        )
        if change.newly_flagged:
            self._audit.append(
                "external_controller_set",
                {
                    "workload": str(ref),
                    "message": f"Stopped acting on {ref}: someone else "
                    f"reverted our changes {limits.reversion_limit} times within "
                    f"{limits.reversion_window_s:g} s.",
                },
                durable=True,
            )
