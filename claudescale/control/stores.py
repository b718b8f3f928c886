"""The human-control stores of one state directory: approvals, overrides, snapshots, the
durable operator stops and the kill-switch file.

Layer: control (local files). ``ControlStores.open`` is the one place that knows their file
names; the executor, the CLI and the MCP server all open the stores this way. Nothing here
decides whether a change may run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claudescale.config import Settings
from claudescale.control.approvals import ApprovalStore
from claudescale.control.overrides import OverrideStore
from claudescale.control.snapshots import SnapshotStore
from claudescale.control.stops import StopStore
from claudescale.control.store_events import copy_events
from claudescale.ports import AuditSink, Clock


@dataclass(frozen=True, slots=True)
class ControlStores:
    state_dir: Path
    approvals: ApprovalStore
    overrides: OverrideStore
    snapshots: SnapshotStore
    kill_switch_file: Path
    stops: StopStore

    @classmethod
    def open(cls, state_dir: Path, settings: Settings, clock: Clock) -> ControlStores:
        control = settings.approvals
        return cls(
            state_dir=state_dir,
            approvals=ApprovalStore(state_dir / "approvals.json", clock),
            overrides=OverrideStore(state_dir / "overrides.json", clock),
            snapshots=SnapshotStore(
                state_dir / "snapshots.jsonl", clock, control.snapshot_retention_s
            ),
            kill_switch_file=control.kill_switch_file or state_dir / "kill-switch",
            stops=StopStore(state_dir / "stops.json", clock),
        )

    def flush(self, audit: AuditSink) -> int:
        """Copy every stored event not yet in the audit log into it (decisions made in another
        process, e.g. ``claudescale approve``); returns how many."""
        stores = ((self.approvals.document, "approvals"), (self.overrides.document, "overrides"))
        return sum(copy_events(document, key, audit) for document, key in stores)
