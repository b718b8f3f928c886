"""Model economy: a model is consulted about a workload only when its situation changed enough.

Layer: edge (the MCP assistant). ``ChangeTriggered`` wraps a model proposer (sampling or
provider) and passes it only the workloads whose situation matters since the model last saw
them, and only while a change could be allowed (above the band below the maximum, below the
scale-down threshold above the minimum): CPU left the band around the target, crossed the
scale-down threshold, a refusal cleared, or CPU has stayed off target for ``off_target_s``.
The rules decide for every other workload, every cycle, as they always can. The
hourly budgets are kept by the proposers themselves; when the model was not asked after
all (no sampling client connected, no budget left), the change still counts as unseen and
is put to it on the next cycle that can ask. Bookkeeping on the monotonic clock,
no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from claudescale.config import Settings
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Code, Proposal, WorkloadRef
from claudescale.ports import Clock, Proposer

DEFAULT_OFF_TARGET_S = 180.0
SETTLED_CODES = frozenset({Code.OK, Code.HOLD})
"""Last decisions that are not a standing refusal."""


class Band(StrEnum):
    UNKNOWN = "unknown"
    BELOW_THRESHOLD = "below_threshold"
    """Below the scale-down threshold: a scale-down may be allowed."""
    LOW = "low"
    IN_BAND = "in_band"
    HIGH = "high"


def band_of(situation: WorkloadSituation, target_percent: float, tolerance: float) -> Band:
    reading = situation.reading
    if not reading.is_finite or reading.percent is None or reading.missing_pods:
        return Band.UNKNOWN
    percent = reading.percent
    if percent < situation.limits.scale_down_cpu_below_percent:
        return Band.BELOW_THRESHOLD
    if percent < target_percent * (1 - tolerance):
        return Band.LOW
    if percent <= target_percent * (1 + tolerance):
        return Band.IN_BAND
    return Band.HIGH


@dataclass(frozen=True, slots=True)
class _Seen:
    band: Band
    refused: bool
    consulted_at: float


def actionable(situation: WorkloadSituation, band: Band) -> bool:
    """Off target in a direction the guardrails could allow: above the band below the
    maximum, or below the scale-down threshold above the minimum."""
    limits = situation.limits
    if band is Band.HIGH:
        return situation.replicas < limits.max_replicas
    if band is Band.BELOW_THRESHOLD:
        return situation.replicas > limits.min_replicas
    return False


def _refused(situation: WorkloadSituation) -> bool:
    last = situation.last_decision
    return last is not None and last.code not in SETTLED_CODES


class ChangeTriggered:
    """A model proposer asked only about the workloads whose situation changed enough."""

    def __init__(
        self,
        inner: Proposer,
        settings: Settings,
        clock: Clock,
        *,
        off_target_s: float = DEFAULT_OFF_TARGET_S,
    ) -> None:
        self.name = inner.name
        self.inner = inner
        self._target = settings.loop.target_cpu_percent
        self._tolerance = settings.loop.tolerance
        self._clock = clock
        self._off_target_s = off_target_s
        self._seen: dict[WorkloadRef, _Seen] = {}
        self.consulted = False
        """Whether the last ``propose`` asked the model (read by the service's telemetry,
        which counts consults)."""

    def matters(self, situation: WorkloadSituation, now: float) -> bool:
        """Whether the model should be asked about this workload now."""
        band = band_of(situation, self._target, self._tolerance)
        if not actionable(situation, band):
            return False
        before = self._seen.get(situation.ref)
        if before is None or band is not before.band:
            return True  # left the band, or crossed the scale-down threshold
        if before.refused and not _refused(situation):
            return True  # a refusal cleared
        return now - before.consulted_at >= self._off_target_s

    async def propose(self, situations: Sequence[WorkloadSituation]) -> Sequence[Proposal]:
        now = self._clock.now()
        chosen = [s for s in situations if self.matters(s, now)]
        asked_about = {s.ref for s in chosen}
        earlier = {ref: self._seen.get(ref) for ref in asked_about}
        for situation in situations:
            band = band_of(situation, self._target, self._tolerance)
            before = self._seen.get(situation.ref)
            asked = situation.ref in asked_about
            self._seen[situation.ref] = _Seen(
                band=band,
                refused=_refused(situation),
                consulted_at=now if asked or before is None else before.consulted_at,
            )
        self.consulted = False
        if not chosen:
            return []
        try:
            return await self.inner.propose(chosen)
        finally:
            self.consulted = getattr(self.inner, "consulted", True)
            if not self.consulted:  # nobody was asked (no client, no budget): ask next time
                for ref, seen in earlier.items():
                    if seen is None:
                        self._seen.pop(ref, None)
                    else:
                        self._seen[ref] = seen
