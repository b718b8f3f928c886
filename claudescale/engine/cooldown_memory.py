"""The executor's memory of each workload: cooldowns, recent actions, external changes.

Layer: engine (no I/O but audit records; times are monotonic seconds from the injected
clock). It is rebuilt from the audit log at start-up (``recover``), updated after every write
of ours (``after_write``) and by every fresh read (``note_read``), where a replica count that
nobody here set is an external change; reverting our changes too often sets the
``external_controller`` stop, which only an operator clears; that stop is also kept in the
durable ``StopStore`` beside the log, so no damage to the log can drop it. The loop may read
it (``history``) but only the executor changes it.

Failing closed: when the log is damaged (``recover(None, damage=...)``) or an operator sealed
a damaged log, every cooldown starts at start-up (or the seal) and the hourly rate limit counts
as reached until a full cooldown has passed. The first read of each workload also anchors its
cooldowns in the cluster: the time of our field manager's last scale write
(``WorkloadState.last_scaled_by_us_at_wall``) starts both cooldowns when the log does not
explain it, so losing the log does not free a scale-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from claudescale.config import Settings
from claudescale.control.stops import StopStore
from claudescale.core import history as hist
from claudescale.core.recovery_fold import Fold, recover
from claudescale.core.values import History, WorkloadRef, WorkloadState
from claudescale.errors import StateError
from claudescale.ports import AuditSink, Clock


class CooldownMemory:
    def __init__(
        self,
        audit: AuditSink,
        clock: Clock,
        settings: Settings,
        *,
        stops: StopStore | None = None,
    ) -> None:
        self._audit, self._clock, self._settings = audit, clock, settings
        self._stops = stops
        self._histories: dict[WorkloadRef, History] = {}
        self._default = History()
        self._known_at: dict[WorkloadRef, float] = {}
        """Per workload, when our newest read began or our newest write finished."""
        self._anchored: set[WorkloadRef] = set()
        """Workloads whose cluster anchor (``managedFields`` time) was already applied."""

    def history(self, ref: WorkloadRef) -> History:
        return self._histories.get(ref, self._default)

    # -- start-up ---------------------------------------------------------------------------

    def recover(
        self,
        records: Iterable[Mapping[str, Any]] | None,
        *,
        damage: str | None = None,
        base: Fold | None = None,
    ) -> None:
        """Rebuild from the audit log: ``records`` folded onto ``base`` (the records before
        them, already folded: ``Recovery.base``). ``None`` means there is no history to trust:
        with ``damage`` (the log is damaged, cut or lost) every cooldown and the rate limit
        are held for a full cooldown from now; without (a fresh log) scale-downs wait a full
        cooldown. The durable stops apply either way."""
        now = self._clock.now()
        if records is None:
            self._recover_nothing(now, damage)
            self._apply_stops()
            return
        recovered = recover(
            records, epoch=self._clock.epoch, now=now, wall_now=self._clock.wall(), base=base
        )
        self._histories = {WorkloadRef.parse(k): h for k, h in recovered.histories.items()}
        if recovered.sealed_at is not None:
            self._hold_all(recovered.sealed_at)
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
        self._apply_stops()
        self._audit.append(
            "restart",
            {
                "recovered": True,
                "workloads": len(self._histories),
                "interrupted_intents": len(recovered.interrupted_intents),
            },
            durable=True,
        )

    def _recover_nothing(self, now: float, damage: str | None) -> None:
        if damage is None:
            self._default = hist.assumed_action_at(now)
            message = (
                "Audit history unavailable; assuming an action at start-up for every workload."
            )
            self._audit.append("restart", {"recovered": False, "message": message}, durable=True)
            return
        hold_s = self._hold_all(now)
        self._audit.append(
            "restart",
            {
                "recovered": False,
                "damage": damage,
                "hold_s": hold_s,
                "message": "The audit log cannot be trusted; every cooldown, the hourly rate "
                f"limit and every stop count as active for {hold_s:g} s from start-up. Run "
                "`claudescale audit verify` and `claudescale audit seal`.",
            },
            durable=True,
        )

    def _hold_all(self, at: float) -> float:
        """Hold every workload (known or not) as after damage from ``at``; returns the hold."""
        limits = self._settings.guardrails
        hold_s = max(limits.cooldown_up_s, limits.cooldown_down_s)
        slots = max(
            [limits.max_actions_per_hour]
            + [int(v.get("max_actions_per_hour", 0)) for v in self._settings.workloads.values()]
        )
        self._default = hist.held_from(self._default, at, hold_s, slots)
        self._histories = {
            ref: hist.held_from(h, at, hold_s, slots) for ref, h in self._histories.items()
        }
        return hold_s

    def _apply_stops(self) -> None:
        """The durable stops hold whatever the log says; a stop only the log knows (written
        before the stop store existed) is copied into the store."""
        if self._stops is None:
            return
        stopped = self._stops.stopped()
        for ref in stopped:
            self._histories[ref] = replace(self.history(ref), external_controller=True)
        for ref, history in self._histories.items():
            if history.external_controller and ref not in stopped:
                self._stops.stop(ref, "Recovered from the audit log.")

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

    def forget(self, ref: WorkloadRef) -> None:
        """Drop a workload that went away (the loop asks once nothing here matters any more:
        ``loop_memory.forgettable``), so memory follows the workloads that exist."""
        self._histories.pop(ref, None)
        self._known_at.pop(ref, None)
        self._anchored.discard(ref)  # if it comes back, the cluster anchors it again

    def clear_external_controller(self, ref: WorkloadRef, actor: str, reason: str = "") -> None:
        """An operator lifted the stop: audited first, so a crash before the stops file
        changes leaves the stop in force (and a lift still asked for is carried out again)."""
        self._audit.append(
            "external_controller_cleared", {"workload": str(ref), "actor": actor}, durable=True
        )
        if reason:
            self._audit.append(
                "operator_note",
                {"workload": str(ref), "actor": actor, "reason": reason},
                durable=True,
            )
        if self._stops is not None:
            self._stops.clear(ref)
        self._histories[ref] = hist.cleared(self.history(ref))

    def carry_out_lifts(self) -> int:
        """Lift the stops an operator asked to lift while this process held the audit log
        (``claudescale clear-external``), with the records the command writes itself; returns
        how many. Raises StateError when the stops file cannot be read."""
        if self._stops is None:
            return 0
        lifts = self._stops.lift_requests()
        for ref, (actor, reason) in lifts.items():
            self.clear_external_controller(ref, actor, reason)
        return len(lifts)

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
        self._anchor_in_cluster(state)
        self._note_replicas(state)

    def _anchor_in_cluster(self, state: WorkloadState) -> None:
        """Once per workload and process: the cluster's record of our last scale write."""
        ref = state.ref
        if ref in self._anchored:
            return
        self._anchored.add(ref)
        written_wall = state.last_scaled_by_us_at_wall
        if written_wall is None:
            return
        written_at = hist.wall_to_monotonic(
            written_wall + hist.ANCHOR_RESOLUTION_S,
            now=self._clock.now(),
            wall_now=self._clock.wall(),
        )
        current = self.history(ref)
        anchored = hist.anchored_in_cluster(current, written_at)
        if anchored != current:
            self._histories[ref] = anchored
            self._audit.append(
                "cooldown_anchored",
                {
                    "workload": str(ref),
                    "scaled_at_wall": written_wall,
                    "message": f"The cluster says claudescale last scaled {ref} at a time the "
                    "audit log does not explain; both cooldowns start from then.",
                },
                durable=True,
            )

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
            message = (
                f"Stopped acting on {ref}: someone else reverted our changes "
                f"{limits.reversion_limit} times within {limits.reversion_window_s:g} s."
            )
            if self._stops is not None:
                try:
                    self._stops.stop(ref, message)
                except StateError as exc:  # the audit record below still holds the stop
                    message += f" The stop could not be stored beside the log: {exc}"
            self._audit.append(
                "external_controller_set", {"workload": str(ref), "message": message}, durable=True
            )
