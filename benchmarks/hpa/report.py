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
from benchmarks.hpa.why import WHY

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
                "–" if ratio is None else f"{ratio:.3f}",
                f"{result['replica_ratio']:.3f}",
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
        else f"overload {ratio:.3f}× the HPA's"
    )
    marks = (
        f"{overload} ({'met' if result['overload_met'] else 'missed'}), replica-seconds "
        f"{result['replica_ratio']:.3f}× ({'met' if result['replica_met'] else 'missed'})"
    )
    return f"- {who}: **{'aim met' if result['met'] else 'aim not met'}**: {marks}."
