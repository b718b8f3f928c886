"""How far an emergency override may go: ceilings the operator sets in the settings file.

Layer: pure core (a settings group and one check; no I/O, no clock). An override may always
tighten a guardrail. It may loosen one only where this group names a bound, and only up to
it: more replicas, shorter cooldowns, a larger scale-down step, a higher CPU threshold for a
scale-down, a lower minimum. It never removes a critical pattern or allows a critical
workload, and never loosens any other guardrail (the reason's length, the metrics' age, the
believable CPU ceiling, the rate limit, the reversion rules); a guardrail added to ``Limits``
later is refused until someone decides which way it tightens. An override for every workload
(``*``) needs ``allow_every_workload``. The CLI checks this when an override starts and the
executor again each time it applies one, so an override file edited by hand is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from claudescale.core.limits import Limits

SETTINGS_GROUP = "overrides"
"""Where these ceilings live in the settings file (``Settings.overrides``)."""


class OverrideCeilings(BaseModel):
    """The most an emergency override may loosen the guardrails; never set from the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_replicas_ceiling: int = Field(
        10, ge=1, description="Highest max_replicas an override may set."
    )
    min_replicas_floor: int = Field(1, ge=1, description="Lowest min_replicas an override may set.")
    min_cooldown_up_s: float = Field(
        30.0, ge=0, description="Shortest cooldown_up_s an override may set, in seconds."
    )
    min_cooldown_down_s: float = Field(
        60.0, ge=0, description="Shortest cooldown_down_s an override may set, in seconds."
    )
    max_step_down_ceiling: int = Field(
        1,
        ge=1,
        description="Largest max_step_down an override may set (1: a scale-down still moves "
        "one replica at a time, whatever the override).",
    )
    max_cpu_threshold_percent: float = Field(
        50.0,
        gt=0,
        description="Highest scale_down_cpu_below_percent an override may set, in percent of "
        "requests.",
    )
    allow_every_workload: bool = Field(
        False, description="Whether an override may name every workload ('*') at once."
    )


# For each guardrail an override may loosen: which way is looser, and the ceiling's field.
_LOOSER_WHEN_HIGHER = {
    "max_replicas": "max_replicas_ceiling",
    "max_step_down": "max_step_down_ceiling",
    "scale_down_cpu_below_percent": "max_cpu_threshold_percent",
}
_LOOSER_WHEN_LOWER = {
    "min_replicas": "min_replicas_floor",
    "cooldown_up_s": "min_cooldown_up_s",
    "cooldown_down_s": "min_cooldown_down_s",
}
# Guardrails an override may only tighten, and which way tightens them.
_TIGHTER_WHEN_LOWER = frozenset(
    {
        "reason_max_chars",
        "metric_max_age_s",
        "cpu_percent_ceiling",
        "max_actions_per_hour",
        "reversion_limit",
    }
)
_TIGHTER_WHEN_HIGHER = frozenset({"reversion_window_s"})
_SET_FIELDS = frozenset({"critical_patterns", "critical_allow"})
KNOWN_FIELDS = (
    frozenset(_LOOSER_WHEN_HIGHER)
    | frozenset(_LOOSER_WHEN_LOWER)
    | _TIGHTER_WHEN_LOWER
    | _TIGHTER_WHEN_HIGHER
    | _SET_FIELDS
)
"""Every ``Limits`` field this module knows the direction of (a test keeps it complete)."""


def override_problem(
    changes: Mapping[str, Any] | Iterable[tuple[str, Any]],
    base: Limits,
    ceilings: OverrideCeilings,
    *,
    every_workload: bool,
) -> str | None:
    """Why an override with ``changes`` may not apply on top of ``base``, in one sentence
    naming the key (and the settings key that bounds it); None when it may."""
    prefix = SETTINGS_GROUP
    if every_workload and not ceilings.allow_every_workload:
        return (
            f"an override for every workload ('*') needs {prefix}.allow_every_workload: true "
            "in the settings file; name one workload instead."
        )
    items = dict(changes.items() if isinstance(changes, Mapping) else changes)
    candidate = base.with_overrides(items)  # ValueError names an unknown key or a bad value
    for key in sorted(items):
        before, after = getattr(base, key), getattr(candidate, key)
        problem = _key_problem(key, before, after, ceilings)
        if problem is not None:
            return problem
    return None


def _key_problem(key: str, before: Any, after: Any, ceilings: OverrideCeilings) -> str | None:
    prefix = SETTINGS_GROUP
    if key == "critical_patterns":
        removed = sorted(set(before) - set(after))
        if removed:
            return (
                f"critical_patterns: an override may add critical patterns, never remove one "
                f"({', '.join(removed)})."
            )
        return None
    if key == "critical_allow":
        added = sorted(set(after) - set(before))
        if added:
            return (
                f"critical_allow: an override may not allow a critical workload "
                f"({', '.join(added)}); only the settings file may."
            )
        return None
    if key in _LOOSER_WHEN_HIGHER:
        bound_key = _LOOSER_WHEN_HIGHER[key]
        bound = getattr(ceilings, bound_key)
        if after > before and after > bound:
            return (
                f"{key}={after:g} is above the ceiling {prefix}.{bound_key}={bound:g} set in "
                "the settings file."
            )
        return None
    if key in _LOOSER_WHEN_LOWER:
        # A higher min_replicas is bounded too: never above max_replicas, which is.
        bound_key = _LOOSER_WHEN_LOWER[key]
        bound = getattr(ceilings, bound_key)
        if after < before and after < bound:
            return (
                f"{key}={after:g} is below the floor {prefix}.{bound_key}={bound:g} set in "
                "the settings file."
            )
        return None
    if key in _TIGHTER_WHEN_LOWER and after <= before:
        return None
    if key in _TIGHTER_WHEN_HIGHER and after >= before:
        return None
    if key in KNOWN_FIELDS:
        return f"{key}: an override may only tighten it (the settings say {before!r})."
    return f"{key}: an override may not change it."
