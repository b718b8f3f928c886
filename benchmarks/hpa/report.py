"""The control-quality report: the aim per trace, one PNG per trace, the RESULTS.md section.

Layer: benchmark (output only). The section of ``benchmarks/RESULTS.md`` between the
``benchmarks.hpa`` markers is rewritten on every run; the rest of the file belongs to other
benchmarks and is kept as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.hpa.measures import Ledger
from benchmarks.hpa.traces import Trace

PLOTS_DIR = Path(__file__).parent / "plots"
START, END = "<!-- benchmarks.hpa:start -->", "<!-- benchmarks.hpa:end -->"
OVERLOAD_AIM, REPLICA_AIM = 0.8, 1.05
LABELS = {
    "hpa": "HPA reference",
    "claudescale": "claudescale (rules)",
    "claudescale_model": "claudescale (scripted model)",
}
COLOURS = {"hpa": "tab:blue", "claudescale": "tab:orange", "claudescale_model": "tab:green"}


def aim(ours: dict[str, Any], hpa: dict[str, Any]) -> dict[str, Any]:
    """Overload at most 0.8× the HPA's, replica-seconds at most 1.05× its own."""
    overload, theirs = ours["overload_seconds"], hpa["overload_seconds"]
    overload_ratio = overload / theirs if theirs else None
    overload_met = overload <= OVERLOAD_AIM * theirs
    replica_ratio = ours["replica_seconds"] / hpa["replica_seconds"]
    replica_met = replica_ratio <= REPLICA_AIM
    return {
        "overload_ratio": None if overload_ratio is None else round(overload_ratio, 3),
        "overload_met": overload_met,
        "replica_ratio": round(replica_ratio, 3),
        "replica_met": replica_met,
        "met": overload_met and replica_met,
    }


def plot_trace(trace: Trace, ledgers: dict[str, Ledger], path: Path, target_percent: int) -> None:
    """Demand and capacity at the target (top), replicas (bottom), for every controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    hours = trace.duration_s > 4 * 3600
    scale, unit = (3600.0, "h") if hours else (60.0, "min")
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=[2, 1])
    first = next(iter(ledgers.values()))
    top.plot(
        [s[0] / scale for s in first.series],
        [s[1] for s in first.series],
        color="black",
        linewidth=1.2,
        label="demand",
    )
    for key, ledger in ledgers.items():
        times = [s[0] / scale for s in ledger.series]
        top.step(
            times,
            [s[2] for s in ledger.series],
            where="post",
            color=COLOURS[key],
            linewidth=1,
            label=f"{LABELS[key]}: capacity at {target_percent}%",
        )
        bottom.step(
            times,
            [s[3] for s in ledger.series],
            where="post",
            color=COLOURS[key],
            linewidth=1,
            label=LABELS[key],
        )
    top.set_ylabel("cores")
    top.set_title(f"{trace.name}: {trace.description}", fontsize=9)
    top.legend(fontsize=7, loc="upper right")
    bottom.set_ylabel("replicas")
    bottom.set_xlabel(f"time ({unit})")
    bottom.set_yticks(range(0, 7))
    bottom.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_markdown(path: Path, document: dict[str, Any]) -> None:
    section = render(document)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def render(document: dict[str, Any]) -> str:
    setup = document["control_quality"]
    lines = [
        START,
        "## Control quality: claudescale against the Kubernetes HPA (simulated)",
        "",
        f"Machine: {document['machine']}. Date: {document['date']}. "
        "Written by `python -m benchmarks.hpa` (part of `make bench`).",
        "",
        "Every trace runs on a virtual clock through the same simulated Deployment and "
        f"metrics pipeline for each controller: pods requesting 250m, ready "
        f"{setup['pod_startup_s']:g} s after creation; CPU scraped every "
        f"{setup['scrape_interval_s']:g} s and read as `rate()` over "
        f"{setup['rate_window_s']:g} s; claudescale polls every "
        f"{setup['claudescale_poll_s']:g} s, the HPA syncs every "
        f"{setup['hpa_sync_period_s']:g} s; both aim at {setup['target_cpu_percent']}% "
        f"within {setup['replicas'][0]}..{setup['replicas'][1]} replicas. claudescale is the "
        "real poll loop, rules, executor and guardrails (cooldowns 90 s / 180 s, one replica "
        "down, below 40 %, 12 actions an hour) over the in-memory cluster; the HPA reference "
        "(`benchmarks/hpa/hpa.py`) follows the Kubernetes controller with its defaults and "
        "reads the same `rate()` values (as through a Prometheus resource-metrics adapter; "
        "metrics-server's window would be shorter, for both). "
        "Overload-seconds: seconds with demand above ready pods × 250m × the target. "
        "Replica-seconds: the integral of the Deployment's replicas.",
        "",
        f"The aim: claudescale's overload-seconds at most {OVERLOAD_AIM}× the HPA's, at "
        f"replica-seconds at most {REPLICA_AIM}× the HPA's.",
        "",
    ]
    total = len(document["traces"])
    for key, who in (("aim", "the rules"), ("aim_model", "the scripted model")):
        met = [name for name, t in document["traces"].items() if t[key]["met"]]
        listed = f" ({', '.join(met)})" if met else ""
        lines.append(f"- **With {who}, the aim is met on {len(met)} of {total} traces{listed}.**")
    lines += [
        "",
        "| trace | HPA overload s | rules: overload × | rules: replica-s × | rules: aim "
        "| model: overload × | model: replica-s × | model: aim |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for name, trace in document["traces"].items():
        cells = [name, f"{trace['hpa']['overload_seconds']:g}"]
        for key in ("aim", "aim_model"):
            result = trace[key]
            ratio = result["overload_ratio"]
            cells += [
                "–" if ratio is None else f"{ratio:.2f}",
                f"{result['replica_ratio']:.2f}",
                "met" if result["met"] else "not met",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Per trace below; the reasons follow the tables.", ""]
    for name, trace in document["traces"].items():
        lines += _trace_section(name, trace)
    lines += [*WHY, END]
    return "\n".join(lines)


def _trace_section(name: str, trace: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name}",
        "",
        f"{trace['description']} {trace['duration_s'] / 60:g} minutes; {_floor(trace)}",
        "",
        "| controller | overload s | overload core·s | over request s | replica·s | actions "
        "| reversals | step→write s | refusals (HPA: limiting conditions) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, label in LABELS.items():
        m = trace[key]
        step = "–" if m["step_to_write_s"] is None else f"{m['step_to_write_s']:g}"
        refusals = ", ".join(f"{c} {n}" for c, n in m["refusals_by_code"].items()) or "–"
        lines.append(
            f"| {label} | {m['overload_seconds']:g} | {m['overload_core_seconds']:g} "
            f"| {m['over_request_seconds']:g} | {m['replica_seconds']:g} | {m['actions']} "
            f"| {m['reversions']} | {step} "
            f"| {refusals} |"
        )
    lines += ["", _verdict("claudescale (rules)", trace["aim"])]
    lines += [_verdict("claudescale (scripted model)", trace["aim_model"]), ""]
    lines += [f"![{name}](hpa/plots/{name}.png)", ""]
    return lines


def _floor(trace: dict[str, Any]) -> str:
    floor_s = trace["unavoidable_overload_seconds"]
    if not floor_s:
        return "the demand never exceeds what the maximum of replicas serves at the target."
    return (
        f"for {floor_s:g} s the demand exceeds what even the maximum of replicas serves at the "
        "target: an overload floor no controller within the bounds can go below."
    )


def _verdict(who: str, result: dict[str, Any]) -> str:
    ratio = result["overload_ratio"]
    overload = (
        "no overload for the HPA either"
        if ratio is None and result["overload_met"]
        else "overload where the HPA has none"
        if ratio is None
        else f"overload {ratio:.2f}× the HPA's"
    )
    marks = (
        f"{overload} ({'met' if result['overload_met'] else 'missed'}), replica-seconds "
        f"{result['replica_ratio']:.2f}× ({'met' if result['replica_met'] else 'missed'})"
    )
    return f"- {who}: **{'aim met' if result['met'] else 'aim not met'}**: {marks}."


WHY: list[str] = [
    "### Why, trace by trace",
    "",
    "The mechanisms below were read from the audit logs and write times of these runs; "
    "the figures above are regenerated on every run, the reasons are not, so re-read them "
    "when the rules, the guardrails or the traces change.",
    "",
    "- **Every step (step, spike, flash crowd).** Both controllers first see a step through "
    "a 120 s `rate()` window that holds only 15 to 30 s of the new load, so both first add "
    "one replica (2→3) 15 to 45 s after the step. The HPA corrects at its next syncs (its "
    "policies allow +100 % or +4 pods every 15 s; new pods count as 0 % until a window has "
    "passed). claudescale proposes the right size (3→5) 30 s later, but the executor refuses "
    "it with `cooldown_up` until 90 s after the first scale-up. On `step` the larger second "
    "jump (5 where the HPA settles at 4) gives 0.7× the overload at 1.13× the "
    "replica-seconds; on `spike` and `flash_crowd` the demand is above what 5 replicas "
    "serve for most of the overload, so the overload-seconds are equal and only the "
    "over-request column and the core-seconds differ.",
    "- **ramp.** A slow rise is where the rules' trend look-ahead (60 s) pays: each "
    "scale-up comes about 45 s before the HPA's, and no scale-up is refused. The aim is met, "
    "at the edge (0.80×).",
    "- **diurnal.** The day moves slowly enough that both controllers hold the target "
    "within the 10 % tolerance band most of the time; the overload-seconds are the hours in "
    "which the demand sits inside the band but above the target, about equal for both. "
    "No controller within the tolerance band can be 0.8× the other here.",
    "- **noisy.** The rules flap between 2 and 3 replicas in the quieter half (9 reversals, "
    "and the 12-actions-an-hour limit is reached): at 3 replicas the noisy CPU dips below "
    "the 40 % scale-down threshold, one replica goes, and at 2 it rises above the band "
    "again. The HPA stays at 3 because its 300 s stabilisation window keeps the highest "
    "recommendation of the last five minutes; claudescale has no such window, only the "
    "180 s cooldown. Fewer replica-seconds, 1.75× the overload: missed.",
    "- **wikipedia_en_day.** The demand hovers around what 4 and 5 replicas serve. "
    "claudescale scales down only below 40 % CPU, so it stays at 5 where the HPA returns "
    "to 4 and sits in the tolerance band above the target: a third of the HPA's overload "
    "for 1.08× its replica-seconds. The aim's replica bound is missed by 3 %.",
    "- **The scripted model** is eager upwards (two replicas at 1.5× the target) and "
    "cautious downwards (only below half the target), so it buys low overload with "
    "replicas; its proposals go through the same executor, and the refusals it meets are "
    "the cooldowns it does not read.",
    "",
    "What would move claudescale towards the aim, from these runs: a scale-down "
    "stabilisation window (the highest wanted size over a few minutes) instead of relying on "
    "the 40 % threshold alone; letting a second scale-up within the cooldown through when "
    "it corrects an undersized first one (the HPA's rate policies instead of a fixed 90 s); "
    "and sizing the first reaction to a step from the newest part of the rate window. None "
    "of these is changed here: this benchmark measures the product as it is, and the HPA "
    "reference keeps its defaults.",
    "",
    "Not measured by `benchmarks.hpa` (null in results.json, with a note): the reaction "
    "time of the real closed loop and the scale of the real `claudescale run` process, "
    "measured by other benchmarks. Model consults are counted for the scripted model: one "
    "per poll (240 an hour); change-triggered consulting is not in the engine yet. The "
    "default risk settings would have held some of the executed changes for a human "
    "(a 100 % or 3-replica change, or the 6th action in an hour is high risk); the runs "
    "set those thresholds out of reach because nobody approves in a simulation, and "
    "results.json counts the changes affected as `would_need_a_human`.",
    "",
]
"""The reasons behind the figures, read from these runs' audit logs and write times."""
