"""The durable operator stops that live beside the audit log: ``external_controller`` per
workload, in ``stops.json`` of the state directory.

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


class StopStore:
    """``{"external_controller": {"ns/name": {"at": <wall s>, "message": ...}}}``."""

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
        """An operator cleared the stop."""
        with self.document.transaction() as document:
            (document.get(EXTERNAL_CONTROLLER) or {}).pop(str(ref), None)
