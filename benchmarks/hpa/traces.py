"""Demand traces: reading ``benchmarks/traces/*.csv`` and the demand at any second.

Layer: benchmark (pure after loading). A trace is a list of ``(time_s, demand_cores)`` rows,
linear between rows; two rows at the same time make a step (the later row holds from that
time on). Before the first row the first value holds, after the last the last.
"""

from __future__ import annotations

import bisect
import csv
import json
from dataclasses import dataclass
from pathlib import Path

TRACES_DIR = Path(__file__).parents[1] / "traces"


@dataclass(frozen=True, slots=True)
class Trace:
    name: str
    description: str
    times_s: tuple[float, ...]
    demands_cores: tuple[float, ...]
    load_steps_s: tuple[float, ...] = ()
    """Times of the sudden rises that step-to-write is measured from."""

    @property
    def duration_s(self) -> float:
        return self.times_s[-1]

    def demand_cores(self, t_s: float) -> float:
        times, demands = self.times_s, self.demands_cores
        after = bisect.bisect_right(times, t_s)
        if after == 0:
            return demands[0]
        if after == len(times):
            return demands[-1]
        t0, t1 = times[after - 1], times[after]
        d0, d1 = demands[after - 1], demands[after]
        return d0 + (d1 - d0) * (t_s - t0) / (t1 - t0)


def load_trace(name: str, directory: Path = TRACES_DIR) -> Trace:
    """One trace by name, as ``index.json`` describes it; ValueError naming the problem."""
    index = json.loads((directory / "index.json").read_text())
    if name not in index:
        raise ValueError(f"There is no trace named {name!r} in {directory}.")
    entry = index[name]
    times: list[float] = []
    demands: list[float] = []
    with (directory / entry["file"]).open(newline="") as handle:
        for row in csv.DictReader(handle):
            t_s, cores = float(row["time_s"]), float(row["demand_cores"])
            if times and t_s < times[-1]:
                raise ValueError(f"Trace {name!r} goes back in time at {t_s:g} s.")
            if cores < 0:
                raise ValueError(f"Trace {name!r} has a negative demand at {t_s:g} s.")
            times.append(t_s)
            demands.append(cores)
    if len(times) < 2:
        raise ValueError(f"Trace {name!r} needs at least two rows.")
    return Trace(
        name=name,
        description=str(entry["description"]),
        times_s=tuple(times),
        demands_cores=tuple(demands),
        load_steps_s=tuple(float(s) for s in entry.get("load_steps_s", ())),
    )


def trace_names(directory: Path = TRACES_DIR) -> list[str]:
    return list(json.loads((directory / "index.json").read_text()))
