"""Guardrail limits: the numbers the executor enforces, with the product brief's defaults.

Layer: pure core. The operator sets these (config file, environment, per-workload overrides,
``claudescale.io/*`` annotations); nothing the model says ever reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CRITICAL_PATTERNS = ("postgres", "mysql", "redis", "controller", "operator", "etcd")
ANNOTATION_PREFIX = "claudescale.io/"


class Limits(BaseModel):
    """Hard limits on what any change may do. Every field is in the unit its name says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(2, ge=1, description="Lowest replica count we may set.")
    max_replicas: int = Field(5, ge=1, description="Highest replica count we may set.")
    cooldown_up_s: float = Field(
        90.0, ge=0, description="Seconds after our last scale-up before another scale-up."
    )
    cooldown_down_s: float = Field(
        180.0,
        ge=0,
        description="Seconds after any action or external change before a scale-down.",
    )
    max_step_down: int = Field(1, ge=1, description="Replicas one scale-down may remove.")
    scale_down_cpu_below_percent: float = Field(
        40.0,
        gt=0,
        description="A scale-down needs the executor's fresh CPU reading below this "
        "percentage of requests.",
    )
    reason_max_chars: int = Field(500, ge=10, description="Longest reason accepted.")
    metric_max_age_s: float = Field(
        60.0, gt=0, description="Seconds after which a CPU sample is too old to act on."
    )
    cpu_percent_ceiling: float = Field(
        10_000.0,
        gt=0,
        description="A CPU reading above this percentage of requests is not believed.",
    )
    max_actions_per_hour: int = Field(
        12, ge=1, description="Executed actions per workload in any 3600 s window."
    )
    reversion_limit: int = Field(
        2, ge=1, description="Reversions of our actions by someone else before we stop."
    )
    reversion_window_s: float = Field(
        600.0, gt=0, description="Window in which reversions are counted, in seconds."
    )
    critical_patterns: tuple[str, ...] = Field(
        DEFAULT_CRITICAL_PATTERNS,
        description="Workload-name substrings that mark a critical workload we never scale.",
    )
    critical_allow: tuple[str, ...] = Field(
        (), description="Workloads (namespace/name) the operator allows despite a pattern."
    )

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})"
            )
        return self

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Limits:
        """A copy with some fields replaced; raises ValueError naming the key and value."""
        items = dict(overrides.items() if isinstance(overrides, Mapping) else overrides)
        if not items:
            return self
        try:
            return Limits.model_validate({**self.model_dump(), **items})
        except ValidationError as exc:
            raise ValueError(describe_validation_error(exc)) from None


# Which way each limit tightens. Annotations on a Deployment may only tighten: whoever can
# edit a Deployment must not be able to loosen what the operator configured.
_TIGHTER_WHEN_HIGHER = frozenset(
    {"min_replicas", "cooldown_up_s", "cooldown_down_s", "reversion_window_s"}
)
_TIGHTER_WHEN_LOWER = frozenset(
    {
        "max_replicas",
        "max_step_down",
        "scale_down_cpu_below_percent",
        "reason_max_chars",
        "metric_max_age_s",
        "cpu_percent_ceiling",
        "max_actions_per_hour",
        "reversion_limit",
    }
)


def tightened(limits: Limits, overrides: Iterable[tuple[str, str]]) -> Limits:
    """Apply annotation overrides that only tighten ``limits``; ValueError names any other."""
    items = list(overrides)
    if not items:
        return limits
    candidate = limits.with_overrides(items)
    for key, raw in items:
        if key not in _TIGHTER_WHEN_HIGHER | _TIGHTER_WHEN_LOWER:
            raise ValueError(
                f"{ANNOTATION_PREFIX}{key.replace('_', '-')}: not settable by annotation"
            )
        before, after = getattr(limits, key), getattr(candidate, key)
        looser = after < before if key in _TIGHTER_WHEN_HIGHER else after > before
        if looser:
            raise ValueError(
                f"{ANNOTATION_PREFIX}{key.replace('_', '-')}: {raw!r} would loosen the "
                f"operator's limit of {before!r}; annotations may only tighten"
            )
    return candidate


def annotation_overrides(annotations: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Pick guardrail overrides out of ``claudescale.io/<kebab-key>`` annotations.

    Unknown ``claudescale.io/`` keys other than the pause and enable switches are kept so that
    ``Limits.with_overrides`` rejects them by name.
    """
    switches = {"paused", "enabled"}
    picked = []
    for key, value in sorted(annotations.items()):
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        short = key.removeprefix(ANNOTATION_PREFIX)
        if short in switches:
            continue
        picked.append((short.replace("-", "_"), value))
    return tuple(picked)


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming the first bad key and value of a pydantic error."""
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    key = f"{prefix}.{location}" if prefix and location else (prefix or location)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        return f"{key}: unknown key (value {first['input']!r})."
    if first["type"] == "missing":
        return f"{key}: required key is missing."
    if not location:
        return f"{prefix or 'settings'}: {message}."
    return f"{key}: {message} (got {first['input']!r})."
