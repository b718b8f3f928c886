"""The CPU trend of one workload as a running least-squares fit of bounded size.

Layer: pure core (no clock reads, no I/O; times are handed in as monotonic seconds). It owns
``TrendFit``: the sums behind the least-squares slope of (seconds, CPU percent) samples,
updated once per new sample and kept in a fixed number of time buckets, so that a workload
costs the same memory and the same work per cycle whatever the poll interval and however long
the window. It must not decide anything: ``claudescale.core.rules`` reads the slope.

The window moves a bucket at a time: a sample leaves the fit when its whole bucket is older
than ``window_s``, so the fit spans between ``window_s`` and ``window_s`` plus one bucket
(``window_s / buckets``). The same thresholds as ``rules.trend_percent_per_min`` apply: no
slope from fewer than 3 samples or from less than 10 seconds.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Final

from claudescale.core.rules import MIN_TREND_POINTS, MIN_TREND_SPAN_S

DEFAULT_BUCKETS: Final = 12
SLOPE_DIGITS: Final = 9
"""The slope is rounded to this many decimals of % per minute: a flat load reads 0.0, not the
1e-15 left over by rounding in the sums."""


# The fields of one bucket in the flat array: its sums have times relative to the bucket's
# start (index × width), so they stay small and exact however long the process has run.
_COUNT, _SUM_T, _SUM_P, _SUM_TT, _SUM_TP, _FIRST_T, _LAST_T = range(7)
_FIELDS = 7


@dataclass(slots=True)
class TrendFit:
    """Least-squares slope of recent (monotonic seconds, CPU percent) samples, in % per
    minute, from at most ``buckets`` + 1 buckets of sums kept in one flat array of floats
    (under a kilobyte per workload; see the module docstring)."""

    window_s: float
    buckets: int = DEFAULT_BUCKETS
    _sums: array[float] = field(init=False, repr=False)
    _oldest: int = field(default=0, init=False)
    _newest: int = field(default=-1, init=False)
    """Bucket indices (time // width) of the oldest and newest bucket; empty when newest <
    oldest."""

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and math.isfinite(self.window_s)):
            raise ValueError(
                f"A trend window must be a positive number of seconds, not {self.window_s}."
            )
        if self.buckets < 1:
            raise ValueError(f"A trend needs at least one bucket, not {self.buckets}.")
        self._sums = array("d", bytes(8 * _FIELDS * (self.buckets + 1)))

    @property
    def width_s(self) -> float:
        return self.window_s / self.buckets

    @property
    def count(self) -> int:
        """Samples in the fit."""
        return int(sum(self._sums[self._at(i) + _COUNT] for i in self._indices()))

    @property
    def buckets_in_use(self) -> int:
        """At most ``buckets`` + 1, however many samples arrived."""
        return len(self._indices())

    def clear(self) -> None:
        self._oldest, self._newest = 0, -1

    def add(self, at_s: float, percent: float) -> None:
        """Add one sample; non-finite values are ignored, and so is a sample older than the
        newest bucket (monotonic time does not go back)."""
        if not (math.isfinite(at_s) and math.isfinite(percent)):
            return
        width_s = self.width_s
        index = math.floor(at_s / width_s)
        if self._newest < self._oldest:
            self._oldest = self._newest = index
            self._reset(index)
        elif index > self._newest:
            # Buckets that would share a slot with this one are wholly out of the window.
            self._oldest = max(self._oldest, index - self.buckets)
            for fresh in range(max(self._newest + 1, self._oldest), index + 1):
                self._reset(fresh)
            self._newest = index
        elif index < self._newest:
            return
        sums, at = self._sums, self._at(index)
        t = at_s - index * width_s
        sums[at + _COUNT] += 1.0
        sums[at + _SUM_T] += t
        sums[at + _SUM_P] += percent
        sums[at + _SUM_TT] += t * t
        sums[at + _SUM_TP] += t * percent
        if sums[at + _COUNT] == 1.0:
            sums[at + _FIRST_T] = at_s
        sums[at + _LAST_T] = at_s

    def expire(self, now_s: float) -> None:
        """Drop the buckets that lie wholly before ``now_s - window_s``."""
        edge_s, width_s = now_s - self.window_s, self.width_s
        if (self._newest + 1) * width_s <= edge_s:
            self.clear()
            return
        while self._oldest <= self._newest and (self._oldest + 1) * width_s <= edge_s:
            self._oldest += 1

    def slope_percent_per_min(self) -> float | None:
        """The slope of the samples in the fit; None with fewer than 3 samples or a span
        under 10 seconds."""
        sums, width_s, newest = self._sums, self.width_s, self._newest
        n = 0.0
        sum_t = sum_p = sum_tt = sum_tp = 0.0
        first_t = math.inf
        for index in self._indices():
            at = self._at(index)
            count = sums[at + _COUNT]
            if count == 0.0:
                continue
            d = (index - newest) * width_s
            bucket_t = sums[at + _SUM_T]
            bucket_p = sums[at + _SUM_P]
            n += count
            sum_t += bucket_t + count * d
            sum_p += bucket_p
            sum_tt += sums[at + _SUM_TT] + 2.0 * d * bucket_t + count * d * d
            sum_tp += sums[at + _SUM_TP] + d * bucket_p
            first_t = min(first_t, sums[at + _FIRST_T])
        if n < MIN_TREND_POINTS:
            return None
        if sums[self._at(newest) + _LAST_T] - first_t < MIN_TREND_SPAN_S:
            return None
        spread = sum_tt - sum_t * sum_t / n
        if not spread > 0:  # pragma: no cover - a 10 s span always spreads
            return None
        slope = (sum_tp - sum_t * sum_p / n) / spread * 60.0
        return round(slope, SLOPE_DIGITS) if math.isfinite(slope) else None

    def _indices(self) -> range:
        return range(self._oldest, self._newest + 1)

    def _at(self, index: int) -> int:
        return (index % (self.buckets + 1)) * _FIELDS

    def _reset(self, index: int) -> None:
        at = self._at(index)
        self._sums[at : at + _FIELDS] = array("d", bytes(8 * _FIELDS))
