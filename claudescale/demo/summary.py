"""The demo's closing numbers, computed from the audit log alone.

Layer: edge (reads a local file). Definitions, so that anyone can recompute them:
- actions: ``outcome`` records with code ``ok`` (scale-ups: to > from);
- refusals: ``verdict`` records whose code is neither ``ok`` nor ``hold``, counted by code;
- peak CPU: the largest ``cpu_peak_percent`` of the ``cycle`` records;
- replica-minutes: each ``cycle`` record's total ``replicas`` held until the next ``cycle``
  record, the last one until the log's last record, on the monotonic clock (``mono``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudescale.audit import iter_records, verify


@dataclass(frozen=True, slots=True)
class DemoSummary:
    audit_path: Path
    records: int
    verified: bool
    scale_ups: int = 0
    scale_downs: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    peak_cpu_percent: float | None = None
    peak_cpu_workload: str | None = None
    replica_minutes: float = 0.0
    observed_s: float = 0.0

    @property
    def actions(self) -> int:
        return self.scale_ups + self.scale_downs

    def as_json(self) -> dict[str, Any]:
        return {
            "audit_path": str(self.audit_path),
            "records": self.records,
            "verified": self.verified,
            "actions": self.actions,
            "scale_ups": self.scale_ups,
            "scale_downs": self.scale_downs,
            "refusals": dict(sorted(self.refusals.items())),
            "peak_cpu_percent": self.peak_cpu_percent,
            "peak_cpu_workload": self.peak_cpu_workload,
            "replica_minutes": self.replica_minutes,
            "observed_s": self.observed_s,
        }


def summarise(audit_path: Path) -> DemoSummary:
    ups = downs = records = 0
    refusals: Counter[str] = Counter()
    peak: tuple[float, str] | None = None
    replica_s = 0.0
    first_mono: float | None = None
    last_cycle: tuple[float, int] | None = None
    last_mono = 0.0
    for record in iter_records(audit_path):
        records += 1
        last_mono = float(record["mono"])
        kind = record["kind"]
        if kind == "outcome" and record.get("code") == "ok":
            if record["to"] > record["from"]:
                ups += 1
            else:
                downs += 1
        elif kind == "verdict" and record.get("code") not in ("ok", "hold"):
            refusals[str(record["code"])] += 1
        elif kind == "cycle":
            percent = record.get("cpu_peak_percent")
            if isinstance(percent, int | float) and (peak is None or percent > peak[0]):
                peak = (float(percent), str(record.get("cpu_peak_workload")))
            if last_cycle is not None:
                replica_s += last_cycle[1] * (last_mono - last_cycle[0])
            else:
                first_mono = last_mono
            last_cycle = (last_mono, int(record["replicas"]))
    if last_cycle is not None:
        replica_s += last_cycle[1] * (last_mono - last_cycle[0])
    return DemoSummary(
        audit_path=audit_path,
        records=records,
        verified=verify(audit_path).ok,
        scale_ups=ups,
        scale_downs=downs,
        refusals=dict(refusals),
        peak_cpu_percent=None if peak is None else round(peak[0], 1),
        peak_cpu_workload=None if peak is None else peak[1],
        replica_minutes=round(replica_s / 60.0, 2),
        observed_s=round(last_mono - first_mono, 1) if first_mono is not None else 0.0,
    )


def render_summary(summary: DemoSummary) -> str:
    refusals = ", ".join(f"{code} {n}" for code, n in sorted(summary.refusals.items()))
    peak = (
        "no reading"
        if summary.peak_cpu_percent is None
        else f"{summary.peak_cpu_percent:.1f}% of requests ({summary.peak_cpu_workload})"
    )
    chain = "chain verified" if summary.verified else "CHAIN BROKEN"
    return "\n".join(
        [
            f"claudescale demo: summary from the audit log ({summary.records} records, {chain})",
            f"  actions:         {summary.actions} ({summary.scale_ups} up, "
            f"{summary.scale_downs} down)",
            f"  refusals:        {sum(summary.refusals.values())}"
            + (f" ({refusals})" if refusals else ""),
            f"  peak CPU:        {peak}",
            f"  replica-minutes: {summary.replica_minutes:.2f} over {summary.observed_s:g} s",
            f"  audit log:       {summary.audit_path}",
            f"  verify it:       claudescale audit verify --path {summary.audit_path}",
        ]
    )
