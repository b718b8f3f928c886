"""The fold of audit records into guardrail memory, resumable: the state ``recover``
builds record by record, which a start-up snapshot can hold and a restart can continue.

Layer: pure core. ``Fold`` takes records in log order (``add``); ``finish`` turns it into a
``Recovered`` at a start-up time without changing it; ``rebase`` moves a fold made under one
monotonic epoch (boot) to another exactly as a full fold under the new epoch would have seen
the same records, or says it cannot (None); ``to_json``/``from_json`` are its plain form.
It must not read files: the audit package stores and checks snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, replace
from typing import Any

from claudescale.core.history import (
    Recovered,
    after_action,
    after_unknown_write,
    cleared,
    wall_to_monotonic,
)
from claudescale.core.values import History


class Fold:
    """The records folded so far, compared with the monotonic clock of ``epoch``."""

    def __init__(self, epoch: str) -> None:
        self.epoch = epoch
        self.histories: dict[str, History] = {}
        self.foreign: set[str] = set()
        """Workloads with records from another epoch (not comparable with ours)."""
        self.timed: set[str] = set()
        """Workloads with any record other than the operator's stop and its clearing."""
        self.open_intents: dict[str, dict[str, Any]] = {}
        self.sealed: dict[str, Any] | None = None
        """The time fields of the newest ``sealed`` record."""
        self.epochs: set[str] = set()
        """Every epoch a record was written under."""

    def add(self, record: Mapping[str, Any]) -> None:
        kind, key, epoch = record.get("kind"), record.get("workload"), record.get("epoch")
        self.epochs.add(str(epoch))
        if kind == "sealed":
            self.sealed = {"epoch": epoch, "mono": record.get("mono"), "ts": record.get("ts")}
            return
        if not isinstance(key, str) or "/" not in key:
            return  # not about one workload (an override for every workload names '*')
        history = self.histories.get(key, History())
        # The operator's stop and its clearing do not depend on time: honour them from any boot.
        if kind == "external_controller_set":
            self.histories[key] = replace(history, external_controller=True)
            return
        if kind == "external_controller_cleared":
            self.histories[key] = cleared(history)
            return
        self.timed.add(key)
        intent: Mapping[str, Any] | None = None
        if kind == "intent":
            self.open_intents[str(record["intent_id"])] = dict(record)
        elif kind == "outcome":
            intent = self.open_intents.pop(str(record.get("intent_id")), None)
        if epoch != self.epoch:
            self.foreign.add(key)
            return
        self.histories[key] = _applied(history, kind, record, intent, self.epoch)

    def copy(self) -> Fold:
        return from_json(to_json(self))


def _applied(
    history: History,
    kind: Any,
    record: Mapping[str, Any],
    intent: Mapping[str, Any] | None,
    epoch: str,
) -> History:
    mono = float(record["mono"])
    if kind == "outcome":
        if record.get("code") == "ok":
            return after_action(history, mono, int(record["from"]), int(record["to"]))
        if record.get("code") == "unknown":
            # Dated from the intent, when the write could have landed, if that time is on our
            # clock; otherwise from this record, which is later and so safe.
            same_boot = intent is not None and intent.get("epoch") == epoch
            at = float(intent["mono"]) if intent is not None and same_boot else mono
            return after_unknown_write(history, at, int(record["from"]), int(record["to"]))
    elif kind == "external_change":
        reversion = bool(record.get("reversion"))
        return replace(
            history,
            last_change_at=mono,
            last_known_replicas=int(record["replicas"]),
            reversion_times=(*history.reversion_times, mono)
            if reversion
            else history.reversion_times,
            last_action=None if reversion else history.last_action,
        )
    elif kind == "seeded":
        return replace(
            history,
            last_scale_up_at=float(record["last_scale_up_at"]),
            last_change_at=float(record["last_change_at"]),
        )
    elif kind == "observed":
        return replace(history, last_known_replicas=int(record["replicas"]))
    return history


def finish(fold: Fold, *, now: float, wall_now: float | None) -> Recovered:
    """What the fold means at start-up (``now``): interrupted intents count as executed,
    workloads with history from another boot as if they acted now. ``fold`` is unchanged."""
    histories = dict(fold.histories)
    for intent in fold.open_intents.values():
        if intent.get("epoch") != fold.epoch:
            continue  # handled below with the other records from another boot
        key = str(intent["workload"])
        histories[key] = after_unknown_write(
            histories.get(key, History()),
            float(intent["mono"]),
            int(intent["from"]),
            int(intent["to"]),
        )
    for key in fold.foreign:
        base = histories.get(key, History())
        histories[key] = replace(base, last_change_at=now, last_known_replicas=None)
    sealed_at = None if fold.sealed is None else _sealed_time(fold, now, wall_now)
    return Recovered(histories, tuple(fold.open_intents.values()), sealed_at)


def _sealed_time(fold: Fold, now: float, wall_now: float | None) -> float:
    sealed = fold.sealed or {}
    if sealed.get("epoch") == fold.epoch:
        return float(sealed["mono"])
    ts = sealed.get("ts")
    if wall_now is None or not isinstance(ts, int | float):
        return now
    return wall_to_monotonic(float(ts), now=now, wall_now=wall_now)


def rebase(fold: Fold, epoch: str) -> Fold | None:
    """The fold a full recovery under ``epoch`` would have built from the same records; None
    when some record was written under ``epoch`` already (then only a full fold is exact)."""
    if epoch == fold.epoch:
        return fold.copy()
    if epoch in fold.epochs:
        return None
    moved = fold.copy()
    moved.epoch = epoch
    # Under the new epoch every timed record is foreign: only the stops survive.
    moved.histories = {
        key: History(external_controller=history.external_controller)
        for key, history in fold.histories.items()
    }
    moved.foreign = set(fold.foreign | fold.timed)
    return moved


def to_json(fold: Fold) -> dict[str, Any]:
    return {
        "epoch": fold.epoch,
        "histories": {key: asdict(history) for key, history in fold.histories.items()},
        "foreign": sorted(fold.foreign),
        "timed": sorted(fold.timed),
        "open_intents": fold.open_intents,
        "sealed": fold.sealed,
        "epochs": sorted(fold.epochs),
    }


def from_json(data: Any) -> Fold:
    """The fold in ``data`` (``to_json``'s form). Raises ValueError when it is not one."""
    try:
        fold = Fold(_text(data["epoch"]))
        fold.histories = {_text(k): _history(v) for k, v in dict(data["histories"]).items()}
        fold.foreign = {_text(k) for k in data["foreign"]}
        fold.timed = {_text(k) for k in data["timed"]}
        fold.open_intents = {_text(k): dict(v) for k, v in dict(data["open_intents"]).items()}
        sealed = data["sealed"]
        fold.sealed = None if sealed is None else dict(sealed)
        fold.epochs = {_text(e) for e in data["epochs"]}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"The recovered state is not a fold: {exc!r}.") from None
    return fold


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _history(data: Any) -> History:
    action = data["last_action"]
    return History(
        last_scale_up_at=_time(data["last_scale_up_at"]),
        last_change_at=_time(data["last_change_at"]),
        action_times=tuple(float(t) for t in data["action_times"]),
        reversion_times=tuple(float(t) for t in data["reversion_times"]),
        external_controller=bool(data["external_controller"]),
        last_known_replicas=None
        if data["last_known_replicas"] is None
        else int(data["last_known_replicas"]),
        last_action=None if action is None else (int(action[0]), int(action[1])),
    )


def _time(value: Any) -> float | None:
    return None if value is None else float(value)


def recover(
    records: Iterable[Mapping[str, Any]],
    *,
    epoch: str,
    now: float,
    wall_now: float | None = None,
    base: Fold | None = None,
) -> Recovered:
    """Rebuild every workload's History from the audit records, in log order, folded onto
    ``base`` (the records before them, already folded under ``epoch``; unchanged) if given.

    Records written under another monotonic epoch (another boot) cannot be compared with
    ``now``: a workload with such history is treated as if it acted at start-up. A ``sealed``
    record from another boot is dated by the wall clock (``wall_now``; a future time is now).
    """
    fold = Fold(epoch) if base is None else base.copy()
    for record in records:
        fold.add(record)
    return finish(fold, now=now, wall_now=wall_now)
