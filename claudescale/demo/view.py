"""The demo's live terminal view, drawn with plain ANSI escapes.

Layer: edge (text only: it formats what the runner hands it and never reads anything itself).
``render_frame`` draws one screen: the story's clock and phase, the timing note, the loop's
health, one line per workload (CPU, trend, replicas against the bounds, cooldown timers, last
decision) and the latest actions and refusals. ``event_line`` is the same event as a plain
line, for ``--no-view`` and for logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claudescale.core.situation import WorkloadSituation
from claudescale.core.text import printable
from claudescale.demo.plan import DemoPlan
from claudescale.engine.loop_memory import Decision, LoopStatus

HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
_GREEN, _YELLOW, _RED, _DIM, _BOLD, _RESET = (
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[31m",
    "\x1b[2m",
    "\x1b[1m",
    "\x1b[0m",
)


@dataclass(frozen=True, slots=True)
class Frame:
    plan: DemoPlan
    elapsed_s: float
    phase: str
    demand_cores: float
    status: LoopStatus
    sandbox_url: str
    prometheus_url: str
    audit_path: Path
    started_mono: float
    """Monotonic time of the start, to show events as seconds into the demo."""


def _colour(code: str) -> str:
    if code == "ok":
        return _GREEN
    if code == "hold":
        return _DIM
    return _YELLOW if code.startswith("cooldown") else _RED


def _cpu(situation: WorkloadSituation) -> str:
    percent = situation.reading.percent
    if percent is None:
        return "no data"
    return f"{percent:6.1f}%"


def _trend(situation: WorkloadSituation) -> str:
    trend = situation.trend_percent_per_min
    return "      —" if trend is None else f"{trend:+6.0f}%/min"


def _replicas(situation: WorkloadSituation) -> str:
    replicas = situation.replicas
    low, high = situation.limits.min_replicas, situation.limits.max_replicas
    bar = "".join("█" if i <= replicas else "·" for i in range(1, max(high, replicas) + 1))
    return f"{replicas} {bar} ({low}–{high})"


def _cooldowns(situation: WorkloadSituation) -> str:
    up, down = situation.cooldown_up_remaining_s, situation.cooldown_down_remaining_s
    return f"{up:4.0f} s / {down:4.0f} s"


def event_line(decision: Decision, started_mono: float) -> str:
    at = decision.at - started_mono
    return f"{at:6.1f} s  {decision.code.value:<24} {printable(decision.message)}"


def render_frame(frame: Frame, width: int, height: int) -> str:
    status, plan = frame.status, frame.plan
    health = status.health.value
    if status.blind_reason:
        health += f" ({printable(status.blind_reason)})"
    lines = [
        f"{_BOLD}claudescale demo{_RESET} — autonomous mode, namespace demo    "
        f"t = {frame.elapsed_s:5.0f} s / {plan.duration_s:g} s    phase: {frame.phase} "
        f"(demo/web demands {frame.demand_cores:.2f} cores)",
        f"{_DIM}{plan.scaling_note()}{_RESET}",
        f"loop: {health}, cycle {status.cycles}    Prometheus {frame.prometheus_url}    "
        f"sandbox {frame.sandbox_url}",
        "",
        f"{'WORKLOAD':<10} {'CPU':>8} {'TREND':>11}  {'REPLICAS':<16} {'COOLDOWN up/down':<17} "
        "LAST DECISION",
    ]
    for situation in status.situations:
        last = situation.last_decision
        said = "—"
        if last is not None:
            said = f"{_colour(last.code.value)}{last.code.value}{_RESET} {printable(last.message)}"
        lines.append(
            f"{situation.ref!s:<10} {_cpu(situation):>8} {_trend(situation):>11}  "
            f"{_replicas(situation):<16} {_cooldowns(situation):<17} {said}"
        )
    lines += ["", f"{_BOLD}ACTIONS AND REFUSALS{_RESET} (newest last)"]
    room = max(3, height - len(lines) - 2)
    for decision in status.recent[-room:]:
        colour = _colour(decision.code.value)
        lines.append(f"{colour}{event_line(decision, frame.started_mono)}{_RESET}")
    lines += ["", f"{_DIM}Ctrl-C stops everything. Audit log: {frame.audit_path}{_RESET}"]
    body = "".join(_fit_ansi(line, width) + CLEAR_LINE + "\n" for line in lines[:height])
    return HOME + body + CLEAR_BELOW


def _fit_ansi(line: str, width: int) -> str:
    """Cut a line to ``width`` visible characters, keeping its escapes and resetting after."""
    visible = 0
    out = []
    i = 0
    while i < len(line):
        if line[i] == "\x1b":
            end = line.find("m", i)
            end = len(line) - 1 if end < 0 else end
            out.append(line[i : end + 1])
            i = end + 1
            continue
        if visible >= width - 1 and len(line) - i > 1:
            out.append("…")
            break
        out.append(line[i])
        visible += 1
        i += 1
    return "".join(out) + _RESET
