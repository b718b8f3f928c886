"""The deterministic rules policy: HPA-style proportional control on CPU.

Layer: pure core. This is the proposer that is always there: the fallback whenever the model
is absent, slow or answers nonsense. It owns the arithmetic of "how many replicas would bring
CPU near the target" and the CPU trend estimate. It proposes only what the guardrails'
bounds and scale-down rules would accept (it clamps where the guardrails reject), but it does
not replace them: cooldowns, readiness, ownership and the rest are still judged by the
executor. No I/O, no clock reads: times come in as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from claudescale.core.limits import Limits
from claudescale.core.utilisation import believable_ceiling_percent
from claudescale.core.values import Action, CpuReading, Proposal, Source, WorkloadState

MIN_TREND_POINTS: Final = 3
MIN_TREND_SPAN_S: Final = 10.0
_NAMES_SHOWN: Final = 2


def propose_by_rules(
    state: WorkloadState,
    reading: CpuReading,
    limits: Limits,
    *,
    target_cpu_percent: float,
    tolerance: float,
    trend_percent_per_min: float | None = None,
    lookahead_s: float = 0.0,
) -> Proposal:
    """Propose replicas for one workload from its CPU reading, as an HPA would.

    ``target_cpu_percent`` is the utilisation steered towards, ``tolerance`` the relative
    band around it in which nothing changes (0.1 means ±10 %). A positive
    ``trend_percent_per_min`` projects the reading ``lookahead_s`` ahead for scale-up only,
    so a steep ramp is met before it saturates; a projection never causes a scale-down.
    The action always agrees with the target, a change always lies within the bounds, and a
    scale-down removes at most ``limits.max_step_down`` replicas and only below
    ``limits.scale_down_cpu_below_percent``. Raises ValueError only for a nonsensical
    target, tolerance or look-ahead (a configuration bug, not a runtime condition).
    """
    if not (math.isfinite(target_cpu_percent) and target_cpu_percent > 0):
        raise ValueError(f"target_cpu_percent must be a positive number, got {target_cpu_percent}.")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a non-negative number, got {tolerance}.")
    if not (math.isfinite(lookahead_s) and lookahead_s >= 0):
        raise ValueError(f"lookahead_s must be a non-negative number, got {lookahead_s}.")

    replicas = state.replicas

    def propose(target: int, reason: str) -> Proposal:
        if target > replicas:
            action = Action.SCALE_UP
        elif target < replicas:
            action = Action.SCALE_DOWN
        else:
            action = Action.HOLD
        return Proposal(
            ref=state.ref,
            action=action,
            target_replicas=target,
            reason=_fit(reason, limits.reason_max_chars),
            source=Source.RULES,
            from_replicas=replicas,
        )

    def keep(reason: str) -> Proposal:
        return propose(replicas, reason)

    if state.paused or replicas <= 0:
        return keep(f"Holding at {replicas} replicas: the workload is paused.")
    unusable = _unusable(reading, limits)
    if unusable is not None:
        return keep(f"Holding at {replicas} replicas: {unusable}")
    assert reading.percent is not None  # _unusable() said so; narrows the type for mypy
    percent = reading.percent
    target = target_cpu_percent
    low, high = limits.min_replicas, limits.max_replicas
    seen = _seen(percent, state)

    # HPA multiplies by ready pods. We multiply by state.replicas, the count we actually set
    # and the one the executor compares (from_replicas): pods still starting will take their
    # share once ready. While pods start this sizes a scale-up slightly generously, which the
    # up-cooldown and the maximum contain, and scale-downs wait for readiness in the guardrails.
    projected = _projection(percent, trend_percent_per_min, lookahead_s)
    ahead = percent if projected is None else projected
    if _above_band(ahead, target, tolerance):
        needed = math.ceil(replicas * ahead / target)
        chosen = min(max(needed, low), high)
        basis = (
            f"{seen} is above the {_num(target)}% target"
            if projected is None or _above_band(percent, target, tolerance)
            else f"{seen} is rising {_num(trend_percent_per_min or 0.0)}% per minute "
            f"towards {ahead:.1f}% in {_num(lookahead_s)} s, above the {_num(target)}% target"
        )
        if chosen > replicas:
            capped = f", capped at the maximum of {high}," if needed > chosen else ""
            return propose(
                chosen,
                f"{basis}; {chosen} replicas{capped} would bring it near "
                f"{_near(ahead, replicas, chosen)}%.",
            )
        if replicas >= high:
            where = "already the maximum" if replicas == high else "above the maximum"
            return keep(f"{basis}, but {replicas} replicas is {where} of {high}.")
        # Only reachable when the excess is lost to float rounding: nothing to add.
        return keep(f"{basis}, but only barely; holding at {replicas} replicas.")

    if replicas < low:
        return propose(
            low,
            f"{seen} is not above the {_num(target)}% target, but {replicas} replicas is "
            f"under the minimum of {low}; {low} replicas would bring it near "
            f"{_near(percent, replicas, low)}%.",
        )
    if _within(percent, target, tolerance):
        return keep(
            f"{seen} is within {_num(tolerance * 100)}% of the {_num(target)}% target; "
            f"holding at {replicas} replicas."
        )

    # Below the band: scale down, one step at most, and only under the threshold.
    wanted = min(max(math.ceil(replicas * percent / target), low), high)
    if wanted >= replicas:
        if replicas <= low:
            return keep(
                f"{seen} is below the {_num(target)}% target, but {replicas} replicas is "
                f"already the minimum of {low}."
            )
        return keep(
            f"{seen} is below the {_num(target)}% target, but {replicas - 1} replicas would "
            f"bring it near {_near(percent, replicas, replicas - 1)}%, above the target; "
            f"holding at {replicas} replicas."
        )
    threshold = limits.scale_down_cpu_below_percent
    if percent >= threshold:
        return keep(
            f"{seen} is below the {_num(target)}% target but not below the "
            f"{_num(threshold)}% scale-down threshold; holding at {replicas} replicas."
        )
    if projected is not None and projected >= threshold:
        return keep(
            f"{seen} is below the {_num(threshold)}% scale-down threshold but rising "
            f"{_num(trend_percent_per_min or 0.0)}% per minute towards {projected:.1f}% in "
            f"{_num(lookahead_s)} s; holding at {replicas} replicas."
        )
    step = max(wanted, replicas - limits.max_step_down)
    if step > high:
        return keep(
            f"{seen} is below the {_num(threshold)}% scale-down threshold, but {replicas} "
            f"replicas is above the maximum of {high} and one step down ({step}) would still "
            "be; an operator must bring it within bounds."
        )
    return propose(
        step,
        f"{seen} is below the {_num(threshold)}% scale-down threshold; one step down to "
        f"{step} replicas would bring it near {_near(percent, replicas, step)}%.",
    )


def trend_percent_per_min(samples: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of (monotonic seconds, CPU percent) samples, in % per minute.

    None with fewer than 3 finite samples or when they span less than 10 seconds: a slope
    from so little is noise.
    """
    points = [(t, p) for t, p in samples if math.isfinite(t) and math.isfinite(p)]
    if len(points) < MIN_TREND_POINTS:
        return None
    times = [t for t, _ in points]
    if max(times) - min(times) < MIN_TREND_SPAN_S:
        return None
    mean_t = math.fsum(times) / len(points)
    mean_p = math.fsum(p for _, p in points) / len(points)
    spread = math.fsum((t - mean_t) ** 2 for t in times)
    if spread <= 0:  # pragma: no cover - a 10 s span always spreads
        return None
    slope_per_s = math.fsum((t - mean_t) * (p - mean_p) for t, p in points) / spread
    slope = slope_per_s * 60.0
    return slope if math.isfinite(slope) else None


def _unusable(reading: CpuReading, limits: Limits) -> str | None:
    """Why a reading cannot be acted on, as the end of a sentence; None when it can."""
    percent = reading.percent
    if percent is None:
        return "there is no CPU data for it."
    if not math.isfinite(percent):
        return f"its CPU reading is {percent}, not a number we can use."
    if percent < 0 or percent > believable_ceiling_percent(reading, limits):
        return f"its CPU reading of {percent:.1f}% of requests is not believable."
    if reading.missing_pods:
        count = len(reading.missing_pods)
        shown = ", ".join(reading.missing_pods[:_NAMES_SHOWN])
        more = f" and {count - _NAMES_SHOWN} more" if count > _NAMES_SHOWN else ""
        return f"{count} ready pods have no CPU sample ({shown}{more})."
    if not (reading.age_s <= limits.metric_max_age_s):
        return (
            f"its CPU reading is {_num(reading.age_s)} s old, over the "
            f"{_num(limits.metric_max_age_s)} s limit."
        )
    return None


def _projection(percent: float, trend: float | None, lookahead_s: float) -> float | None:
    """The reading ``lookahead_s`` ahead on a rising trend; None when there is nothing to add."""
    if trend is None or not math.isfinite(trend) or trend <= 0 or lookahead_s <= 0:
        return None
    return percent + trend * lookahead_s / 60.0


def _within(percent: float, target: float, tolerance: float) -> bool:
    """Inside the tolerance band, edges included (robust to float rounding at the edge)."""
    deviation, band = abs(percent - target), tolerance * target
    return deviation <= band or math.isclose(deviation, band, rel_tol=1e-9)


def _above_band(percent: float, target: float, tolerance: float) -> bool:
    return percent > target and not _within(percent, target, tolerance)


def _seen(percent: float, state: WorkloadState) -> str:
    ready = len(state.ready_pods) or state.ready_replicas
    pods = "pod" if ready == 1 else "pods"
    over = f" over {ready} ready {pods}" if ready > 0 else ""
    return f"CPU {percent:.1f}% of requests{over}"


def _near(percent: float, replicas: int, new_replicas: int) -> str:
    return f"{percent * replicas / new_replicas:.0f}"


def _num(value: float) -> str:
    """A number as people write it: 60, 62.5, 0.1."""
    return f"{value:g}"


def _fit(reason: str, max_chars: int) -> str:
    return reason if len(reason) <= max_chars else reason[: max_chars - 1] + "…"
