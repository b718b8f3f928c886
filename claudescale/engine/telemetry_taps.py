"""What feeds ``Telemetry`` from the service's parts: the audit log and the model proposers.

Layer: orchestration support. ``AuditTap`` is the ``AuditSink`` the service hands the executor
and the loop: it writes through to the real log and then tells ``Telemetry`` what was
written; a write that fails is counted and re-raised unchanged. ``TimedProposer`` wraps a
model proposer and times each consult. Neither may change what it passes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Proposal
from claudescale.engine.telemetry import Telemetry
from claudescale.ports import AuditSink, Clock, Proposer


class AuditTap:
    """An ``AuditSink`` that writes through to the log and tells ``Telemetry`` about it.

    A failed write is counted and re-raised unchanged: nothing may change without a record.
    """

    def __init__(self, sink: AuditSink, telemetry: Telemetry) -> None:
        self._sink, self._telemetry = sink, telemetry

    def append(self, kind: str, fields: Mapping[str, Any], *, durable: bool = False) -> int:
        try:
            seq = self._sink.append(kind, fields, durable=durable)
        except Exception:
            self._telemetry.audit_failures.inc()
            raise
        self._telemetry.observe_record(kind, fields)
        return seq


class TimedProposer:
    """A model ``Proposer`` whose consults are timed and counted; answers pass unchanged."""

    def __init__(self, proposer: Proposer, telemetry: Telemetry, clock: Clock) -> None:
        self.name = proposer.name
        self._proposer, self._telemetry, self._clock = proposer, telemetry, clock

    async def propose(self, situations: Sequence[WorkloadSituation]) -> Sequence[Proposal]:
        started, result = self._clock.now(), "timeout"
        try:
            answer = await self._proposer.propose(situations)
            # A proposer that may decline to ask its model (the MCP assistant's
            # change-triggered economy) says whether it did; a call it skipped is no consult.
            result = "answered" if getattr(self._proposer, "consulted", True) else ""
            return answer
        except Exception:
            result = "failed"
            raise
        finally:
            # A cancelled consult (the cycle's deadline) ends here still marked "timeout".
            if result:
                self._telemetry.observe_consult(self.name, result, self._clock.now() - started)
