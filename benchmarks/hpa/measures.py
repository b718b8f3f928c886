"""The bookkeeping of one run: overload, replica-seconds, actions, reversals, reaction time.

Layer: benchmark (pure). ``Ledger.tick`` is called once per simulated tick with what the
world looked like during it; ``Ledger.wrote`` once per scale write. Definitions:

- capacity: ready pods × 250m × the target utilisation (what the pods serve at the target);
- overload-seconds: seconds during which the demand was above that capacity;
- overload core-seconds: the integral of (demand - capacity) where positive;
- over-request seconds: seconds with the demand above ready pods × 250m (above 100 % of
  requests, where the pods run into CPU they never reserved), a stricter sense of overload;
- replica-seconds: the integral of the Deployment's replicas (what is paid for, starting
  pods included);
- actions: scale writes; reversals: consecutive writes in opposite directions;
- step-to-write: seconds from each load step of the trace to the first scale-up written at
  or after it (None when none came before the next step or the end).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

EPSILON_CORES = 1e-9


@dataclass(frozen=True, slots=True)
class Write:
    t_s: float
    from_replicas: int
    to_replicas: int


@dataclass(slots=True)
class Ledger:
    target_percent: float
    series_every_s: float = 5.0
    overload_s: float = 0.0
    overload_core_s: float = 0.0
    over_request_s: float = 0.0
    replica_s: float = 0.0
    writes: list[Write] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    series: list[tuple[float, float, float, int]] = field(default_factory=list)
    """(t, demand cores, capacity cores at the target, replicas), every ``series_every_s``."""
    _next_series_s: float = 0.0

    def tick(
        self, t_s: float, dt_s: float, demand_cores: float, capacity_cores: float, replicas: int
    ) -> None:
        excess = demand_cores - capacity_cores
        if excess > EPSILON_CORES:
            self.overload_s += dt_s
            self.overload_core_s += excess * dt_s
        if demand_cores - capacity_cores * 100.0 / self.target_percent > EPSILON_CORES:
            self.over_request_s += dt_s
        self.replica_s += replicas * dt_s
        if t_s >= self._next_series_s:
            self.series.append((t_s, demand_cores, capacity_cores, replicas))
            self._next_series_s = t_s + self.series_every_s

    def wrote(self, t_s: float, from_replicas: int, to_replicas: int) -> None:
        if to_replicas != from_replicas:
            self.writes.append(Write(t_s, from_replicas, to_replicas))

    def refused(self, code: str) -> None:
        self.refusals[code] += 1

    @property
    def reversals(self) -> int:
        directions = [w.to_replicas > w.from_replicas for w in self.writes]
        return sum(1 for a, b in itertools.pairwise(directions) if a != b)

    def step_to_write_s(self, steps_s: tuple[float, ...], end_s: float) -> list[float | None]:
        answers: list[float | None] = []
        bounds = [*steps_s[1:], end_s][: len(steps_s)]
        for step_s, until_s in zip(steps_s, bounds, strict=True):
            first = next(
                (
                    w.t_s
                    for w in self.writes
                    if step_s <= w.t_s < until_s and w.to_replicas > w.from_replicas
                ),
                None,
            )
            answers.append(None if first is None else first - step_s)
        return answers

    def summary(self, steps_s: tuple[float, ...], end_s: float) -> dict[str, Any]:
        answers = self.step_to_write_s(steps_s, end_s)
        answered = [a for a in answers if a is not None]
        return {
            "overload_seconds": round(self.overload_s, 1),
            "overload_core_seconds": round(self.overload_core_s, 2),
            "over_request_seconds": round(self.over_request_s, 1),
            "replica_seconds": round(self.replica_s, 1),
            "actions": len(self.writes),
            "reversions": self.reversals,
            "step_to_write_s": round(sum(answered) / len(answered), 1) if answered else None,
            "step_to_write_each_s": answers,
            "refusals_by_code": dict(sorted(self.refusals.items())),
        }
