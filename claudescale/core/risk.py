"""Risk assessment: how dangerous one change is, as low / medium / high / critical.

Layer: pure core. ``assess(change, settings, limits, recent_actions)`` is a function of its
inputs: the size of the change (percent and absolute; percent only above small counts, so a
scale-up that restores the minimum or goes one replica above it is judged by replicas alone),
the namespace (production patterns), the workload's name (the guardrails' critical patterns,
``Limits.critical_patterns``, the one source of them) and how many actions we took on the
workload recently. No I/O, no clock reads.

The levels mean: ``low`` and ``medium`` may run by themselves in autonomous mode; ``high``
needs a human even there; ``critical`` is a critical workload, refused unless the operator
allow-listed it, and then it still needs a human.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from claudescale.core.limits import Limits
from claudescale.core.values import History, WorkloadRef

DEFAULT_PRODUCTION_NAMESPACES = ("prod", "production", "live", "main")
_SEGMENT_SEPARATORS = re.compile(r"[-_.]")
_GLOB_CHARS = frozenset("*?[")


class RiskSettings(BaseModel):
    """What makes a change risky. The operator sets these; nothing the model says reaches them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    production_namespaces: tuple[str, ...] = Field(
        DEFAULT_PRODUCTION_NAMESPACES,
        description="Namespace patterns that mark production: a pattern matches the whole "
        "namespace or one of its '-', '_' or '.' separated parts ('prod' matches 'shop-prod', "
        "not 'products'); patterns with * ? [ are shell globs. A production namespace raises "
        "the risk of every change by one level and doubles the approval token's lifetime.",
    )
    medium_change_percent: float = Field(
        30.0, gt=0, description="A change of at least this percentage of replicas is medium."
    )
    high_change_percent: float = Field(
        100.0, gt=0, description="A change of at least this percentage of replicas is high."
    )
    medium_change_replicas: int = Field(
        2, ge=1, description="A change of at least this many replicas is medium."
    )
    high_change_replicas: int = Field(
        3, ge=1, description="A change of at least this many replicas is high."
    )
    frequency_window_s: float = Field(
        3600.0,
        gt=0,
        le=3600.0,
        description="Seconds in which our recent actions on a workload are counted (at most "
        "3600: the executor remembers an hour of actions).",
    )
    medium_recent_actions: int = Field(
        3, ge=1, description="This many actions in the window make the next change medium."
    )
    high_recent_actions: int = Field(
        6, ge=1, description="This many actions in the window make the next change high."
    )

    @model_validator(mode="after")
    def _thresholds_are_ordered(self) -> Self:
        pairs = (
            ("medium_change_percent", "high_change_percent"),
            ("medium_change_replicas", "high_change_replicas"),
            ("medium_recent_actions", "high_recent_actions"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} ({getattr(self, low)}) is above {high} ({getattr(self, high)})"
                )
        return self


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}
_BY_RANK = {rank: level for level, rank in _RANKS.items()}


@dataclass(frozen=True, slots=True)
class Change:
    """The facts of one proposed change, from the executor's fresh read."""

    ref: WorkloadRef
    from_replicas: int
    to_replicas: int


@dataclass(frozen=True, slots=True)
class Risk:
    """A level and the sentences that led to it (one per factor that raised it)."""

    level: RiskLevel
    reasons: tuple[str, ...]
    production: bool = False
    critical_pattern: str | None = None
    """The critical pattern the workload's name matched, if any."""
    critical_allowed: bool = False
    """The operator allow-listed this critical workload (``guardrails.critical_allow``)."""

    @property
    def summary(self) -> str:
        return f"{self.level.value} risk ({'; '.join(self.reasons) or 'a small change'})"


def critical_match(ref: WorkloadRef, limits: Limits) -> str | None:
    """The first critical pattern the workload's name contains (case-insensitive), or None."""
    name = ref.name.casefold()
    for pattern in limits.critical_patterns:
        if pattern and pattern.casefold() in name:
            return pattern
    return None


def is_production(namespace: str, patterns: tuple[str, ...]) -> bool:
    """The namespace matches a production pattern (whole name, a part of it, or a glob)."""
    folded = namespace.casefold()
    parts = set(_SEGMENT_SEPARATORS.split(folded))
    for pattern in patterns:
        wanted = pattern.casefold()
        if not wanted:
            continue
        if _GLOB_CHARS.intersection(wanted):
            if fnmatch.fnmatchcase(folded, wanted):
                return True
        elif wanted == folded or wanted in parts:
            return True
    return False


def recent_actions(history: History, now: float, window_s: float) -> int:
    """Our executed actions on the workload in the last ``window_s`` seconds."""
    return sum(1 for t in history.action_times if now - t < window_s)


def assess(change: Change, settings: RiskSettings, limits: Limits, recent: int) -> Risk:
    """The risk of ``change``; ``recent`` is how many actions we took in the window."""
    critical = critical_match(change.ref, limits)
    allowed = str(change.ref) in limits.critical_allow
    production = is_production(change.ref.namespace, settings.production_namespaces)
    if critical is not None:
        why = f"the name matches the critical pattern {critical!r}"
        if allowed:
            why += " (allow-listed by the operator)"
        return Risk(RiskLevel.CRITICAL, (why,), production, critical, allowed)
    rank = 0
    reasons: list[str] = []
    size_rank, size_why = _size(change, settings, limits.min_replicas)
    if size_rank:
        rank = max(rank, size_rank)
        reasons.append(size_why)
    if recent >= settings.high_recent_actions:
        rank = max(rank, 2)
        reasons.append(f"{recent} actions in the last {settings.frequency_window_s:g} s")
    elif recent >= settings.medium_recent_actions:
        rank = max(rank, 1)
        reasons.append(f"{recent} actions in the last {settings.frequency_window_s:g} s")
    if production:
        rank = min(rank + 1, 2)
        reasons.append(f"namespace {change.ref.namespace} is production")
    return Risk(_BY_RANK[rank], tuple(reasons), production, None, False)


def _size(change: Change, settings: RiskSettings, min_replicas: int) -> tuple[int, str]:
    """The rank the size of the change gives, and a sentence when it raises the risk.

    A scale-up that ends at most one replica above the minimum (restoring the minimum, or one
    step up from it) is judged by replicas only: at such small counts a percentage says
    nothing (1→2 is "100 %"), and refusing it would keep a workload below its own minimum.
    """
    before, after = change.from_replicas, change.to_replicas
    delta = abs(after - before)
    if delta == 0:
        return 0, ""
    small_scale_up = before < after <= min_replicas + 1
    percent = 100.0 * delta / before if before > 0 else float("inf")
    shown = f"{before}→{after} changes {delta} replica(s)"
    shown += f", {percent:.0f}%" if before > 0 else " from zero"
    if small_scale_up:
        percent = 0.0  # the percentage thresholds apply above small counts only
    if percent >= settings.high_change_percent or delta >= settings.high_change_replicas:
        return 2, shown
    if percent >= settings.medium_change_percent or delta >= settings.medium_change_replicas:
        return 1, shown
    return 0, shown
