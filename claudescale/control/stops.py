"""The durable operator stops that live beside the audit log: ``external_controller`` per
workload, in ``stops.json`` of the state directory, and the lifts an operator asked for while
the service held the audit log.

Layer: control (local files). The executor sets a stop here before it writes the audit record
that says so, and clears it only when an operator does; recovery reads it whatever the audit
log says, so a damaged, cut or deleted log cannot drop a stop. Overrides and the kill switch
already live in their own files beside it. Nothing here decides whether a change may run.
"""

from __future__ import annotations

from pathlib import Path

from claudescale.control.state_file import LockedDocument
from claudescale.core.values import WorkloadRef
from claudescale.ports import Clock

EXTERNAL_CONTROLLER = "external_controller"
LIFT_REQUESTED = "lift_requested"


class StopStore:
    """``{"external_controller": {"ns/name": {"at": <wall s>, "message": ...}},
    "lift_requested": {"ns/name": {"at": <wall s>, "actor": ..., "reason": ...}}}``."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.document = LockedDocument(path)
        self._clock = clock

    def stopped(self) -> frozenset[WorkloadRef]:
        """Workloads with an ``external_controller`` stop. Raises StateError when the file
        cannot be read."""
        stops = self.document.read().get(EXTERNAL_CONTROLLER) or {}
        return frozenset(WorkloadRef.parse(key) for key in stops)

    def stop(self, ref: WorkloadRef, message: str) -> None:
        """Record the stop (durably, before the caller audits it)."""
        with self.document.transaction() as document:
            stops = document.setdefault(EXTERNAL_CONTROLLER, {})
            if str(ref) not in stops:
                stops[str(ref)] = {"at": self._clock.wall(), "message": message}

    def clear(self, ref: WorkloadRef) -> None:
        """An operator cleared the stop (and any lift asked for it is done)."""
        with self.document.transaction() as document:
            (document.get(EXTERNAL_CONTROLLER) or {}).pop(str(ref), None)
            (document.get(LIFT_REQUESTED) or {}).pop(str(ref), None)

    def request_lift(self, ref: WorkloadRef, actor: str, reason: str) -> None:
        """An operator asked to lift the stop while the service holds the audit log; the
        service lifts it, with its audit records, at its next cycle (``lift_requests``)."""
        with self.document.transaction() as document:
            requests = document.setdefault(LIFT_REQUESTED, {})
            requests[str(ref)] = {"at": self._clock.wall(), "actor": actor, "reason": reason}

    def lift_requests(self) -> dict[WorkloadRef, tuple[str, str]]:
        """The lifts asked for and not yet carried out: workload → (actor, reason). An entry
        that does not name a workload lifts nothing. Raises StateError when the file cannot
        be read."""
        requests = self.document.read().get(LIFT_REQUESTED) or {}
        lifts: dict[WorkloadRef, tuple[str, str]] = {}
        for key, request in requests.items():
            try:
                ref = WorkloadRef.parse(key)
            except ValueError:
                continue
            fields = request if isinstance(request, dict) else {}
            lifts[ref] = (str(fields.get("actor") or ""), str(fields.get("reason") or ""))
        return lifts
