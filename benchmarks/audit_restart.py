"""How long ``claudescale run`` takes to restart with a year of audit log behind it.

Run: ``.venv/bin/python -m benchmarks.audit_restart [--days 365]``; prints one JSON line last
(``benchmarks.service_scale`` runs it and records the figures under ``restart``).

The log is written synthetically by the real ``AuditLog`` (hash chain, rotation at the
default 64 MiB) on a clock that moves 15 s per poll cycle, with the default settings'
traffic: one ``cycle`` record per 15 s cycle, and 100 managed workloads acting 6 times a day
each, every action written as the product writes it (proposal, evaluation, intent, outcome,
verdict). Appends are not fsynced while generating (the bytes on disk are the same). Then a
child process constructs the real ``Service`` on the log, which is exactly the restart path:
open the log, verify the chain, rebuild the executor's memory from it, apply retention; the
child reports the wall time of each part and the parent its peak RSS (``ru_maxrss`` of the
child, so measured outside it). With ``--twice`` the restart is measured again: the first
start verified and folded the whole log and its clean close wrote the snapshot of the
recovered state (``<log>.recovered``), so the second start verifies and folds only the tail
after it (``second_restart_s``); a third start with ``audit.full_verify_at_start`` measures
the full path again under the same machine load (``full_verify_restart_s``).
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog
from claudescale.audit.format import list_segments
from claudescale.config import parse_settings

CYCLE_S = 15.0
WORKLOADS = 100
ACTIONS_PER_WORKLOAD_PER_DAY = 6
DAY_S = 86400.0
YEAR_DAYS = 365.0


class _GeneratingClock:
    """Moves only when told; its epoch is this boot's, so a restart now recovers the log as
    its own history (the costly case: every record is applied, none skipped as foreign)."""

    def __init__(self, span_s: float) -> None:
        real = SystemClock()
        self.epoch = real.epoch
        self._mono = real.now() - span_s
        self._wall = real.wall() - span_s

    def now(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall += seconds

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never awaited
        self.advance(seconds)


def _settings(path: Path, *, full: bool = False) -> Any:
    audit = {"path": str(path), "full_verify_at_start": full}
    return parse_settings({"mode": "observe", "audit": audit})


def generate(path: Path, days: float, seed: int = 7) -> dict[str, Any]:
    """Write ``days`` of audit log at ``path``; returns what was written."""
    span_s = days * DAY_S
    clock = _GeneratingClock(span_s)
    settings = _settings(path)
    rng = random.Random(seed)
    action_chance = WORKLOADS * ACTIONS_PER_WORKLOAD_PER_DAY * CYCLE_S / DAY_S
    replicas = dict.fromkeys(range(WORKLOADS), 3)
    log = AuditLog(path, settings.audit.rotate_bytes, clock)
    records = actions = 0
    try:
        for cycle in range(int(span_s / CYCLE_S)):
            clock.advance(CYCLE_S)
            while rng.random() < action_chance:
                n = rng.randrange(WORKLOADS)
                before = replicas[n]
                after = before + 1 if before < 3 or (before < 5 and rng.random() < 0.5) else 2
                replicas[n] = after
                records += _action(log, f"shop/app-{n:03d}", before, after, f"{cycle}-{n}")
                actions += 1
                action_chance -= 1.0
            action_chance += WORKLOADS * ACTIONS_PER_WORKLOAD_PER_DAY * CYCLE_S / DAY_S
            log.append(
                "cycle",
                {
                    "workloads": WORKLOADS,
                    "replicas": sum(replicas.values()),
                    "cpu_peak_percent": round(rng.uniform(40, 90), 3),
                    "cpu_peak_workload": f"shop/app-{rng.randrange(WORKLOADS):03d}",
                    "submitted": 0,
                    "held": WORKLOADS,
                    "suppressed": 0,
                },
            )
            records += 1
    finally:
        log.close()
    segments = list_segments(path)
    return {
        "span_days": days,
        "records": records,
        "actions": actions,
        "segments": len(segments),
        "log_mib": round(sum(s.path.stat().st_size for s in segments) / 2**20, 1),
    }


def _action(log: AuditLog, workload: str, before: int, after: int, key: str) -> int:
    """One executed action as the executor records it: five records."""
    direction = "scale_up" if after > before else "scale_down"
    proposal = {"workload": workload, "proposal_id": f"p{key}", "source": "rules"}
    log.append(
        "proposal",
        {
            **proposal,
            "action": direction,
            "from": before,
            "to": after,
            "reason": f"CPU 71.3% of requests over {before} ready pods is above the 66% "
            f"band; {after} replicas would bring it near 60%.",
        },
    )
    log.append(
        "evaluation",
        {
            **proposal,
            "replicas": before,
            "cpu_percent": 71.3,
            "cpu_age_s": 4.2,
            "limits": {"min_replicas": 2, "max_replicas": 5, "cooldown_up_s": 90.0},
            "code": "ok",
        },
    )
    intent = {"workload": workload, "intent_id": f"i{key}", "from": before, "to": after}
    log.append("intent", {**intent, "proposal_id": f"p{key}", "resource_version": key})
    log.append("outcome", {**intent, "code": "ok", "message": "Scaled."})
    log.append(
        "verdict",
        {
            **proposal,
            "outcome": "executed",
            "code": "ok",
            "from": before,
            "to": after,
            "message": f"Scaled {workload} {before}→{after}.",
        },
    )
    return 5


def restart(path: Path, *, full: bool = False) -> dict[str, float]:
    """In this process: construct the real Service on the log (the restart path)."""
    from claudescale.engine.service import Service
    from claudescale.testing.cluster import ScriptedCluster

    clock = SystemClock()
    cluster = ScriptedCluster(clock)
    started = time.perf_counter()
    service = Service(_settings(path, full=full), cluster=cluster, metrics=cluster, clock=clock)
    took_s = time.perf_counter() - started
    service.audit.close()
    return {"restart_s": round(took_s, 2)}


def _restart_in_child(path: Path, *, full: bool = False) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    full_flag = ["--full-verify"] if full else []
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.audit_restart", "--restart-only", str(path), *full_flag],
        check=True,
        capture_output=True,
        text=True,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result: dict[str, float] = orjson.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest of any child so far: exact when this one is it.
    result["peak_rss_mib"] = round(max(peak_kib, before) / 1024, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=365.0, help="Span of the audit log.")
    parser.add_argument(
        "--twice", action="store_true", help="Restart a second time (after retention)."
    )
    parser.add_argument("--restart-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--full-verify", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.restart_only is not None:
        print(orjson.dumps(restart(args.restart_only, full=args.full_verify)).decode())
        return 0
    with tempfile.TemporaryDirectory(prefix="claudescale-restart-") as scratch:
        path = Path(scratch) / "audit.jsonl"
        started = time.perf_counter()
        result: dict[str, Any] = generate(path, args.days)
        result["generate_s"] = round(time.perf_counter() - started, 1)
        first = _restart_in_child(path)
        result.update(restart_s=first["restart_s"], peak_rss_mib=first["peak_rss_mib"])
        if args.days < YEAR_DAYS:
            # A restart reads every record of the log: the time grows with its length.
            result["restart_s_year_estimate"] = round(first["restart_s"] * YEAR_DAYS / args.days, 1)
        if args.twice:
            second = _restart_in_child(path)
            result.update(
                second_restart_s=second["restart_s"], segments_after=len(list_segments(path))
            )
            full = _restart_in_child(path, full=True)
            result["full_verify_restart_s"] = full["restart_s"]
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
