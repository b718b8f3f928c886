"""The Grafana dashboard's own panel queries, run against the demo's Prometheus.

Layer: edge (reads a local file, HTTP to loopback; blocking: call it from a thread). The
queries are read from ``dashboards/claudescale.json`` at run time, never copied: the panels
the report draws are chosen by the metric their first query reads (``REPORT_METRICS``), their
Grafana variables are given the demo's values (``$namespace``, every ``$deployment``, and
``$__rate_interval`` as Grafana computes it from the step and the scrape interval), and each
query runs as a range query. ``graph_link`` gives the same query as a Prometheus graph URL.
Nothing here draws or decides anything.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.errors import ClaudescaleError

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "claudescale.json"
"""The dashboard in a source checkout (``make demo`` runs from one)."""
REPORT_METRICS = (
    "claudescale_workload_cpu_utilisation_ratio",
    "container_cpu_usage_seconds_total",
    "claudescale_workload_desired_replicas",
)
"""The panels the report draws, by the metric their first query reads, top to bottom."""
MAX_POINTS = 500
QUERY_TIMEOUT_S = 10.0
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)\s*\{")


class PanelQueryError(ClaudescaleError):
    """The dashboard cannot be read, or Prometheus did not answer a panel's query."""


@dataclass(frozen=True, slots=True)
class PanelQuery:
    ref_id: str
    expr: str
    """As written in the dashboard, with Grafana's variables."""
    legend: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    unit: str
    """Grafana's unit: ``percentunit`` (a ratio shown as %), ``short``, ``s``..."""
    axis_label: str
    thresholds: tuple[float, ...]
    queries: tuple[PanelQuery, ...]


@dataclass(frozen=True, slots=True)
class Series:
    ref_id: str
    label: str
    workload: str
    """``namespace/deployment`` from the result's labels; empty when it has none."""
    times_s: tuple[float, ...]
    """Unix seconds."""
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Window:
    """The stretch of time the report covers, and its resolution."""

    start_s: float
    end_s: float
    step_s: float
    scrape_interval_s: float

    @classmethod
    def of(cls, start_s: float, end_s: float, scrape_interval_s: float) -> Window:
        step_s = max(scrape_interval_s, math.ceil((end_s - start_s) / MAX_POINTS))
        return cls(start_s, max(end_s, start_s + step_s), float(step_s), scrape_interval_s)

    @property
    def rate_interval(self) -> str:
        """Grafana's ``$__rate_interval``: max(step + scrape interval, 4 × scrape interval)."""
        seconds = max(self.step_s + self.scrape_interval_s, 4 * self.scrape_interval_s)
        return f"{round(seconds * 1000)}ms"


def read_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PanelQueryError(f"The dashboard {path} cannot be read ({exc}).") from exc
    return data


def report_panels(dashboard: Mapping[str, Any]) -> tuple[Panel, ...]:
    """The dashboard's panels that the report draws, in ``REPORT_METRICS`` order."""
    found: list[Panel] = []
    for metric in REPORT_METRICS:
        panel = next(
            (
                p
                for p in dashboard.get("panels", [])
                if p.get("targets") and _first_metric(p["targets"][0].get("expr", "")) == metric
            ),
            None,
        )
        if panel is None:
            raise PanelQueryError(f"The dashboard has no panel whose first query reads {metric}.")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        steps = defaults.get("thresholds", {}).get("steps", [])
        found.append(
            Panel(
                title=str(panel["title"]),
                unit=str(defaults.get("unit", "short")),
                axis_label=str(defaults.get("custom", {}).get("axisLabel", "")),
                thresholds=tuple(float(s["value"]) for s in steps if s.get("value") is not None),
                queries=tuple(
                    PanelQuery(str(t["refId"]), str(t["expr"]), str(t.get("legendFormat", "")))
                    for t in panel["targets"]
                ),
            )
        )
    return tuple(found)


def _first_metric(expr: str) -> str | None:
    """The first metric a query selects (the first name followed by a label matcher)."""
    match = _SELECTOR.search(expr)
    return match.group(1) if match else None


def runnable(expr: str, namespace: str, window: Window) -> str:
    """A panel query as Grafana sends it with ``namespace`` and every Deployment chosen."""
    values = {
        "$__rate_interval": window.rate_interval,
        "$namespace": re.escape(namespace),
        "$deployment": ".*",
    }
    for variable, value in values.items():
        expr = expr.replace(variable, value)
    return expr


def legend(template: str, labels: Mapping[str, str]) -> str:
    if not template:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), template)


def run_panel(prometheus_url: str, panel: Panel, namespace: str, window: Window) -> list[Series]:
    """Every query of ``panel`` as a range query over ``window``: one Series per result."""
    series: list[Series] = []
    for query in panel.queries:
        for result in range_query(prometheus_url, runnable(query.expr, namespace, window), window):
            points = [(float(t), float(v)) for t, v in result["values"] if math.isfinite(float(v))]
            labels = result.get("metric", {})
            workload = "/".join(labels[k] for k in ("namespace", "deployment") if k in labels)
            series.append(
                Series(
                    query.ref_id,
                    legend(query.legend, labels),
                    workload,
                    tuple(t for t, _ in points),
                    tuple(v for _, v in points),
                )
            )
    return series


def range_query(prometheus_url: str, promql: str, window: Window) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode(
        {"query": promql, "start": window.start_s, "end": window.end_s, "step": window.step_s}
    )
    url = f"{prometheus_url}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT_S) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise PanelQueryError(f"Prometheus refused the panel query {promql}: {detail}") from exc
    except (OSError, ValueError) as exc:
        raise PanelQueryError(f"Prometheus at {prometheus_url} did not answer ({exc}).") from exc
    result: list[dict[str, Any]] = body.get("data", {}).get("result", [])
    return result


def graph_link(prometheus_url: str, exprs: Sequence[str], window: Window) -> str:
    """Prometheus's own graph page showing ``exprs`` over ``window``."""
    params: dict[str, str] = {}
    end = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(window.end_s))
    for i, expr in enumerate(exprs):
        params |= {
            f"g{i}.expr": expr,
            f"g{i}.tab": "0",
            f"g{i}.range_input": f"{max(1, math.ceil(window.end_s - window.start_s))}s",
            f"g{i}.end_input": end,
            f"g{i}.step_input": f"{window.step_s:g}",
        }
    return f"{prometheus_url}/graph?{urllib.parse.urlencode(params)}"
