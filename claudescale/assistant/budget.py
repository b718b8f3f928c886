"""An hourly budget of model consults, shared by the sampling and the provider proposers.

Layer: edge (the MCP assistant). ``HourlyBudget.spend`` says whether one more consult fits in
the last hour (a sliding window on the service's monotonic clock, at most ``calls_per_hour``
timestamps kept) and audits the first refusal of a run of them (``model_budget_spent``). It
asks no model and decides nothing: over the budget the rules decide.
"""

from __future__ import annotations

from collections import deque

from claudescale.core.values import Source
from claudescale.ports import AuditSink, Clock

HOUR_S = 3600.0


class HourlyBudget:
    """At most ``calls_per_hour`` consults in any hour, for one proposer."""

    def __init__(self, source: Source, calls_per_hour: int, clock: Clock) -> None:
        self._source = source
        self._calls_per_hour = calls_per_hour
        self._clock = clock
        self._calls: deque[float] = deque()
        self._skipping = False

    def spend(self, audit: AuditSink | None) -> bool:
        """True (and one call counted) when a consult fits now; False over the budget."""
        now = self._clock.now()
        while self._calls and self._calls[0] <= now - HOUR_S:
            self._calls.popleft()
        if len(self._calls) >= self._calls_per_hour:
            if not self._skipping and audit is not None:
                audit.append(
                    "model_budget_spent",
                    {
                        "source": self._source.value,
                        "calls_per_hour": self._calls_per_hour,
                        "message": f"The model was asked {len(self._calls)} times in the last "
                        "hour, its budget; the rules decide until a call ages out.",
                    },
                )
            self._skipping = True
            return False
        self._skipping = False
        self._calls.append(now)
        return True
