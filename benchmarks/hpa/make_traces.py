"""Writes the demand traces under ``benchmarks/traces/`` (``python -m benchmarks.hpa.make_traces``).

Layer: benchmark tooling. Deterministic: every random draw comes from a seeded generator, so
running it again rewrites the same files byte for byte. The benchmark itself only reads the
files; this module is how they were made, kept so that anyone can check or change them.
Each trace is a CSV of ``time_s,demand_cores`` (linear between rows; two rows at the same
time make a step) and an entry in ``index.json`` (description, duration, load steps).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

from benchmarks.hpa.traces import TRACES_DIR

Points = list[tuple[float, float]]

WIKIPEDIA_EN_HOURLY_MREQ = (
    11.8, 11.9, 12.0, 11.2, 10.0, 9.0, 8.3, 8.0, 8.4, 9.2, 10.0, 10.7,
    11.3, 11.9, 12.4, 12.9, 13.4, 13.8, 14.0, 13.6, 12.8, 12.0, 11.6, 11.6,
)  # fmt: skip
"""English Wikipedia page requests per hour (millions) by UTC hour. Anchors from the published
description (see traces/README.md): a main peak of about 14 M at 18:00, a second peak of
about 12 M at 02:00, a floor of about 8 M at 07:00; the hours between are our interpolation."""
WIKIPEDIA_CORES_PER_MREQ = 0.72 / 14.0
"""Scales the main peak to 0.72 cores: just under five 250m pods at the 60 % target."""


def step() -> Points:
    return [(0, 0.25), (300, 0.25), (300, 0.6), (1200, 0.6), (1200, 0.25), (1800, 0.25)]


def ramp() -> Points:
    return [(0, 0.2), (300, 0.2), (2100, 0.72), (2700, 0.72), (3300, 0.2), (3600, 0.2)]


def spike() -> Points:
    return [(0, 0.25), (600, 0.25), (600, 0.9), (690, 0.9), (690, 0.25), (1800, 0.25)]


def diurnal() -> Points:
    """A smooth day: 0.18 cores at 04:00, 0.63 at 16:00, every 5 minutes."""
    points: Points = []
    for t in range(0, 86_400 + 1, 300):
        phase = 2 * math.pi * (t - 4 * 3600) / 86_400
        points.append((t, round(0.18 + 0.45 * (0.5 - 0.5 * math.cos(phase)), 4)))
    return points


def noisy() -> Points:
    """0.45 cores for half an hour, then 0.3, with Gaussian noise (sd 0.12) every 10 s."""
    rng = random.Random(12)
    points: Points = []
    for t in range(0, 3600 + 1, 10):
        level = 0.45 if t < 1800 else 0.3
        points.append((t, round(max(0.05, rng.gauss(level, 0.12)), 4)))
    return points


def flash_crowd() -> Points:
    """0.2 cores; at 900 s a rush to 0.95 in 20 s that decays (time constant 600 s) to 0.25."""
    points: Points = [(0, 0.2), (900, 0.2)]
    for t in range(910, 3600 + 1, 10):
        if t <= 920:
            demand = 0.2 + (0.95 - 0.2) * (t - 900) / 20
        else:
            demand = 0.25 + (0.95 - 0.25) * math.exp(-(t - 920) / 600)
        points.append((t, round(demand, 4)))
    return points


def wikipedia_en_day() -> Points:
    """The hourly profile resampled to one point a minute (cosine between hours), with 3 %
    multiplicative noise per minute from a seeded generator."""
    rng = random.Random(2013)
    hourly = WIKIPEDIA_EN_HOURLY_MREQ
    points: Points = []
    for minute in range(0, 24 * 60 + 1):
        hour, within = divmod(minute, 60)
        low, high = hourly[hour % 24], hourly[(hour + 1) % 24]
        weight = 0.5 - 0.5 * math.cos(math.pi * within / 60)
        mreq = low + (high - low) * weight
        demand = mreq * WIKIPEDIA_CORES_PER_MREQ * (1 + rng.gauss(0, 0.03))
        points.append((minute * 60, round(demand, 4)))
    return points


TRACES: dict[str, tuple[Callable[[], Points], str, list[float]]] = {
    "step": (step, "0.25 cores, a step to 0.6 at 300 s, back at 1200 s.", [300]),
    "ramp": (ramp, "Linear from 0.2 to 0.72 cores over 30 minutes, held, then down.", []),
    "spike": (spike, "0.25 cores with a 90 s spike to 0.9 at 600 s.", [600]),
    "diurnal": (diurnal, "A smooth day: 0.18 cores at 04:00, 0.63 at 16:00.", []),
    "noisy": (noisy, "0.45 then 0.3 cores with Gaussian noise (sd 0.12) every 10 s.", []),
    "flash_crowd": (
        flash_crowd,
        "0.2 cores; a rush to 0.95 in 20 s at 900 s, decaying over about 10 minutes.",
        [900],
    ),
    "wikipedia_en_day": (
        wikipedia_en_day,
        "English Wikipedia's daily page-request cycle (synthesised from its published "
        "shape; see benchmarks/traces/README.md), one point a minute.",
        [],
    ),
}


def write_all(directory: Path = TRACES_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, object]] = {}
    for name, (make, description, steps) in TRACES.items():
        points = make()
        lines = ["time_s,demand_cores"] + [f"{t:g},{d:g}" for t, d in points]
        (directory / f"{name}.csv").write_text("\n".join(lines) + "\n")
        index[name] = {
            "file": f"{name}.csv",
            "description": description,
            "duration_s": points[-1][0],
            "load_steps_s": steps,
        }
    (directory / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    write_all()
