"""The picture at the end of the demo: what the dashboard shows, from the dashboard's queries.

Layer: edge (reads Prometheus and the audit log, writes one PNG; blocking: call it from a
thread). ``write_report`` runs the report panels of ``claudescale.demo.panels`` as range
queries, marks every action and refusal found in the audit log (actions: ``outcome`` records
with code ``ok``; refusals: ``verdict`` records whose code is neither ``ok`` nor ``hold``, as in
the summary) on every panel, and draws them with matplotlib at a fixed size
(``REPORT_SIZE_PX``). matplotlib comes with the dev extra that ``make demo`` installs; without
it the report is skipped with one sentence. It must not decide anything or touch the cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from claudescale.audit import iter_records
from claudescale.demo.panels import (
    Panel,
    PanelQueryError,
    Series,
    Window,
    graph_link,
    read_dashboard,
    report_panels,
    run_panel,
    runnable,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

REPORT_SIZE_PX = (1400, 1200)
"""(width, height) of report.png."""
_DPI = 100
_ACTION_STYLE = {"up": ("tab:green", "^"), "down": ("tab:blue", "v")}
_REFUSAL_STYLE = ("tab:red", "x")
_LINES = {"A": ("-", 2.0), "B": ("--", 1.3), "C": ("-.", 1.3), "D": (":", 1.6)}
"""Line style and width by query: the panel's main query solid, the others broken."""
_WORKLOAD_COLOURS = ("tab:orange", "tab:purple", "tab:brown", "tab:cyan", "tab:olive", "tab:pink")


class ReportUnavailable(RuntimeError):
    """matplotlib is not installed."""


@dataclass(frozen=True, slots=True)
class Marker:
    at_s: float
    """Unix seconds (the audit record's ``ts``)."""
    workload: str
    kind: str
    """``up``, ``down`` or ``refused``."""
    replicas: int | None
    """Where it went (actions) or where it stayed (refusals)."""
    code: str


@dataclass(frozen=True, slots=True)
class Report:
    path: Path
    series: int
    markers: tuple[Marker, ...]
    links: tuple[tuple[str, str], ...] = field(default=())
    """(panel title, Prometheus graph URL)."""

    def lines(self) -> list[str]:
        actions = sum(1 for m in self.markers if m.kind != "refused")
        refusals = len(self.markers) - actions
        out = [
            f"claudescale demo: report {self.path} ({self.series} series from the dashboard's "
            f"queries, {actions} actions and {refusals} refusals marked)",
            "  the same queries as Prometheus graphs (they answer while the demo runs; its "
            "Prometheus stops with it):",
        ]
        out += [f"    {title}: {url}" for title, url in self.links]
        return out


def markers_from_audit(audit_path: Path) -> tuple[Marker, ...]:
    markers = []
    for record in iter_records(audit_path):
        kind, code = record["kind"], record.get("code")
        if kind == "outcome" and code == "ok":
            direction = "up" if record["to"] > record["from"] else "down"
            markers.append(
                Marker(float(record["ts"]), record["workload"], direction, record["to"], "ok")
            )
        elif kind == "verdict" and code not in ("ok", "hold"):
            stayed = record.get("from")
            markers.append(
                Marker(
                    float(record["ts"]),
                    str(record.get("workload")),
                    "refused",
                    stayed if isinstance(stayed, int) else None,
                    str(code),
                )
            )
    return tuple(markers)


def links_for(
    prometheus_url: str, panels: Sequence[Panel], namespace: str, window: Window
) -> tuple[tuple[str, str], ...]:
    return tuple(
        (
            panel.title,
            graph_link(
                prometheus_url, [runnable(q.expr, namespace, window) for q in panel.queries], window
            ),
        )
        for panel in panels
    )


def write_report(
    path: Path,
    *,
    prometheus_url: str,
    panels: Sequence[Panel],
    namespace: str,
    window: Window,
    audit_path: Path,
    title: str,
) -> Report:
    """Query, mark and draw; raises ReportUnavailable without matplotlib."""
    data = [(panel, run_panel(prometheus_url, panel, namespace, window)) for panel in panels]
    markers = markers_from_audit(audit_path) if audit_path.exists() else ()
    draw(path, data, markers, window, title)
    return Report(
        path,
        sum(len(series) for _, series in data),
        markers,
        links_for(prometheus_url, panels, namespace, window),
    )


def draw(
    path: Path,
    data: Sequence[tuple[Panel, Sequence[Series]]],
    markers: Sequence[Marker],
    window: Window,
    title: str,
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
        from matplotlib.lines import Line2D
    except ImportError as exc:
        raise ReportUnavailable(
            "matplotlib is not installed (pip install -e '.[dev]'), so there is no report.png."
        ) from exc
    width, height = REPORT_SIZE_PX
    figure, axes = pyplot.subplots(
        len(data), 1, sharex=True, figsize=(width / _DPI, height / _DPI), dpi=_DPI, squeeze=False
    )
    try:
        figure.suptitle(title, fontsize=11)
        # Room on the right for each panel's legend, so that no legend hides a line or marker.
        figure.subplots_adjust(left=0.06, right=0.8, top=0.89, bottom=0.06, hspace=0.28)
        keys = [("scaled up", *_ACTION_STYLE["up"]), ("scaled down", *_ACTION_STYLE["down"])]
        keys.append(("refused", *_REFUSAL_STYLE))
        figure.legend(
            handles=[
                Line2D([], [], color=colour, marker=shape, linestyle="", label=label)
                for label, colour, shape in keys
            ],
            loc="upper center",
            bbox_to_anchor=(0.43, 0.955),
            ncol=3,
            fontsize=9,
        )
        workloads = sorted({one.workload for _, series in data for one in series})
        colours = {
            w: _WORKLOAD_COLOURS[i % len(_WORKLOAD_COLOURS)] for i, w in enumerate(workloads)
        }
        for ax, (panel, series) in zip(axes[:, 0], data, strict=True):
            _draw_panel(ax, panel, series, markers, window, colours)
        axes[-1, 0].set_xlabel("seconds into the demo")
        axes[-1, 0].set_xlim(0, window.end_s - window.start_s)
        figure.savefig(path, dpi=_DPI, format="png")
    finally:
        pyplot.close(figure)


def _draw_panel(
    ax: Axes,
    panel: Panel,
    series: Sequence[Series],
    markers: Sequence[Marker],
    window: Window,
    colours: dict[str, str],
) -> None:
    scale = 100.0 if panel.unit == "percentunit" else 1.0
    replicas = "replicas" in panel.title.lower()
    for one in series:
        style, width = _LINES.get(one.ref_id, ("-", 1.0))
        ax.plot(
            [t - window.start_s for t in one.times_s],
            [v * scale for v in one.values],
            color=colours.get(one.workload, "tab:grey"),
            linestyle=style,
            linewidth=width,
            label=one.label,
            drawstyle="steps-post" if replicas else "default",
        )
    for threshold in panel.thresholds:
        ax.axhline(threshold * scale, color="tab:orange", linestyle=":", linewidth=1.0)
    for marker in markers:
        at = marker.at_s - window.start_s
        colour, shape = _REFUSAL_STYLE if marker.kind == "refused" else _ACTION_STYLE[marker.kind]
        ax.axvline(at, color=colour, alpha=0.25 if marker.kind == "refused" else 0.6, linewidth=1)
        if replicas and marker.replicas is not None:
            ax.scatter([at], [marker.replicas], color=colour, marker=shape, zorder=3, s=60)
    ax.set_title(panel.title, fontsize=11)
    ax.set_ylabel(
        "%" if scale == 100.0 else panel.axis_label or ("" if panel.unit == "short" else panel.unit)
    )
    ax.set_ylim(bottom=0, top=max(1.0, ax.get_ylim()[1]) * 1.08)
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="grey")


def report_demo(
    *,
    run_dir: Path,
    output: Path,
    dashboard: Path,
    prometheus_url: str,
    namespace: str,
    window: Window,
    title: str,
) -> list[str]:
    """The demo's report: ``run_dir/report.png`` copied to ``output/report.png``; the lines
    to print. A report that cannot be made says why in one line and stops nothing."""
    latest = output / "report.png"
    latest.unlink(missing_ok=True)  # never leave an earlier run's picture to be taken for this one
    try:
        report = write_report(
            run_dir / "report.png",
            prometheus_url=prometheus_url,
            panels=report_panels(read_dashboard(dashboard)),
            namespace=namespace,
            window=window,
            audit_path=run_dir / "audit.jsonl",
            title=title,
        )
        shutil.copyfile(report.path, latest)
    except (PanelQueryError, ReportUnavailable, OSError) as exc:
        return [f"claudescale demo: no report.png: {exc}"]
    return replace(report, path=latest).lines()
