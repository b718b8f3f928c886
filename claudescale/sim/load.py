"""Load model: demanded cores per workload over time, in named phases.

Layer: sandbox; pure (times are passed in, never read). A workload's demand is split evenly
across its ready pods, each capped at its CPU limit (see ``per_pod_usage_cores``).
Phases: ``idle`` (a small constant), ``ramp`` (linear from the current demand up to
``ramp_to_cores`` over ``ramp_s``), ``spike`` (``spike_cores`` at once), ``drain`` (linear
back down to idle over ``drain_s``), or a fixed number of cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from claudescale.sim.config import PHASE_NAMES, Phases

FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class Load:
    """One workload's load: a phase entered at ``since_s`` from ``from_cores``."""

    phase: str
    since_s: float
    from_cores: float
    fixed_cores: float = 0.0

    def demand_cores(self, now_s: float, phases: Phases) -> float:
        elapsed_s = max(0.0, now_s - self.since_s)
        if self.phase == FIXED:
            return self.fixed_cores
        if self.phase == "idle":
            return phases.idle_cores
        if self.phase == "spike":
            return phases.spike_cores
        if self.phase == "ramp":
            return _linear(self.from_cores, phases.ramp_to_cores, elapsed_s, phases.ramp_s)
        return _linear(self.from_cores, phases.idle_cores, elapsed_s, phases.drain_s)


def _linear(start: float, end: float, elapsed_s: float, duration_s: float) -> float:
    fraction = min(1.0, elapsed_s / duration_s)
    return start + (end - start) * fraction


def enter(
    current: Load | None,
    now_s: float,
    phases: Phases,
    *,
    phase: str | None = None,
    cores: float | None = None,
) -> Load:
    """The load after switching to ``phase`` (or a fixed ``cores``) at ``now_s``."""
    from_cores = current.demand_cores(now_s, phases) if current else phases.idle_cores
    if cores is not None:
        if cores < 0:
            raise ValueError(f"A demand of {cores} cores is negative.")
        return Load(FIXED, now_s, from_cores, cores)
    if phase not in PHASE_NAMES:
        raise ValueError(f"Phase {phase!r} is not one of {', '.join(PHASE_NAMES)}.")
    return Load(phase, now_s, from_cores)


def per_pod_usage_cores(demand_cores: float, ready_pods: int, limit_cores: float) -> float:
    """Each ready pod's share of the demand, capped at its limit."""
    if ready_pods <= 0:
        return 0.0
    return min(limit_cores, demand_cores / ready_pods)


def pod_cpu_seconds(
    load: Load,
    start_s: float,
    end_s: float,
    phases: Phases,
    ready_pods: int,
    limit_cores: float,
    step_s: float = 1.0,
) -> float:
    """CPU seconds one ready pod uses over [start_s, end_s] (midpoint rule in steps of at most
    ``step_s``; exact for constant phases, and for ramps while the cap is not reached)."""
    if end_s <= start_s or ready_pods <= 0:
        return 0.0
    steps = max(1, math.ceil((end_s - start_s) / step_s))
    width = (end_s - start_s) / steps
    return sum(
        per_pod_usage_cores(
            load.demand_cores(start_s + (i + 0.5) * width, phases), ready_pods, limit_cores
        )
        * width
        for i in range(steps)
    )
