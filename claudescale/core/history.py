"""How a workload's guardrail memory (``History``) changes, and how it is rebuilt from the
audit log after a restart.

Layer: pure core. Times are monotonic seconds handed in by the caller; records are the
audit log's dicts. Recovery is conservative: whatever cannot be proven is treated as an action
at start-up, so a restart can delay a scale-down but never unlock one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from claudescale.core.limits import Limits
from claudescale.core.values import History

RATE_MEMORY_S = 3600.0


def after_action(history: History, now: float, from_replicas: int, to_replicas: int) -> History:
    """Our own write executed."""
    return replace(
        history,
        last_scale_up_at=now if to_replicas > from_replicas else history.last_scale_up_at,
        last_change_at=now,
        action_times=(*_recent(history.action_times, now, RATE_MEMORY_S), now),
        last_known_replicas=to_replicas,
        last_action=(from_replicas, to_replicas),
    )


def after_unknown_write(
    history: History, now: float, from_replicas: int, to_replicas: int
) -> History:
    """A write whose result we never learned (crash or lost answer): count it as executed for
    the cooldowns, and forget the replica count so the next read is not taken as someone
    else's change."""
    executed = after_action(history, now, from_replicas, to_replicas)
    return replace(executed, last_known_replicas=None)


@dataclass(frozen=True, slots=True)
class ExternalChange:
    history: History
    reversion: bool
    """The change undid our last action (moved replicas back towards where we started)."""
    newly_flagged: bool
    """This reversion crossed the limit: stop acting on the workload."""


def is_external_change(history: History, replicas: int) -> bool:
    return history.last_known_replicas is not None and replicas != history.last_known_replicas


def after_external_change(
    history: History, now: float, replicas: int, limits: Limits
) -> ExternalChange:
    """Someone else changed the replica count: the scale-down cooldown restarts."""
    reversion = False
    if history.last_action is not None and history.last_known_replicas == history.last_action[1]:
        before, ours = history.last_action
        reversion = (replicas - ours) * (before - ours) > 0
    reversions = _recent(history.reversion_times, now, limits.reversion_window_s)
    if reversion:
        reversions = (*reversions, now)
    flagged = len(reversions) >= limits.reversion_limit
    updated = replace(
        history,
        last_change_at=now,
        last_known_replicas=replicas,
        reversion_times=reversions,
        external_controller=history.external_controller or flagged,
        last_action=None if reversion else history.last_action,
    )
    return ExternalChange(updated, reversion, flagged and not history.external_controller)


def cleared(history: History) -> History:
    """An operator cleared the external-controller stop."""
    return replace(history, external_controller=False, reversion_times=())


def assumed_action_at(now: float) -> History:
    """What we assume when there is no log yet (a fresh install): an action at start-up
    (scale-down waits, scale-up does not)."""
    return History(last_change_at=now)


def assumed_damaged(now: float, hold_s: float, rate_slots: int) -> History:
    """What we assume when the log is damaged, cut or lost: every cooldown starts now and the
    hourly rate limit counts as reached until ``hold_s`` (a full cooldown) has passed."""
    return held_from(History(), now, hold_s, rate_slots)


def held_from(history: History, at: float, hold_s: float, rate_slots: int) -> History:
    """``history`` with both cooldowns started no earlier than ``at`` and the rate limit
    reached until ``at + hold_s`` (``rate_slots`` actions that leave the hourly window then)."""
    slots = (at - RATE_MEMORY_S + hold_s,) * rate_slots
    return replace(
        history,
        last_scale_up_at=_later(history.last_scale_up_at, at),
        last_change_at=_later(history.last_change_at, at),
        action_times=tuple(sorted((*history.action_times, *slots))),
    )


ANCHOR_RESOLUTION_S = 1.0
"""``managedFields`` times are whole seconds: our write happened within a second of one."""


def anchored_in_cluster(history: History, written_at: float) -> History:
    """The cluster says our field manager last wrote the scale at ``written_at`` (monotonic,
    already the end of its second). When the log's own last action does not explain that
    write, it starts both cooldowns and counts for the rate limit."""
    logged = max(history.action_times, default=None)
    if logged is not None and written_at <= logged + ANCHOR_RESOLUTION_S:
        return history
    return replace(
        history,
        last_scale_up_at=_later(history.last_scale_up_at, written_at),
        last_change_at=_later(history.last_change_at, written_at),
        action_times=tuple(sorted((*history.action_times, written_at))),
    )


def _later(at: float | None, other: float) -> float:
    return other if at is None else max(at, other)


def _recent(times: tuple[float, ...], now: float, window_s: float) -> tuple[float, ...]:
    return tuple(t for t in times if now - t < window_s)


@dataclass(frozen=True, slots=True)
class Recovered:
    histories: dict[str, History]
    """Per workload key (namespace/name)."""
    interrupted_intents: tuple[Mapping[str, Any], ...]
    """Intents with no outcome: the process stopped between intent and result."""
    sealed_at: float | None = None
    """When an operator sealed a damaged log into this chain (monotonic, on our clock), or
    None: from then every workload is held as after damage."""


def wall_to_monotonic(wall_s: float, *, now: float, wall_now: float) -> float:
    """A wall-clock time on the monotonic clock; a time in the future counts as now."""
    return now - max(0.0, wall_now - wall_s)
