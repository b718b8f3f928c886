"""The demo's report.png: the dashboard's own queries, its markers from the audit log, and a
PNG of a fixed size (read from the PNG header).

The real run (a short demo with Prometheus) is in tests/test_demo.py; here the parts are
checked without one: the panels and their queries come from dashboards/claudescale.json, the
variables are replaced as Grafana replaces them, the graph links carry the same queries, the
audit log's actions and refusals become markers, and the drawing has the promised size.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from matplotlib import pyplot

from claudescale.audit import AuditLog
from claudescale.demo.panels import (
    DASHBOARD,
    REPORT_METRICS,
    PanelQueryError,
    Series,
    Window,
    graph_link,
    legend,
    read_dashboard,
    report_panels,
    runnable,
)
from claudescale.demo.report import REPORT_SIZE_PX, draw, markers_from_audit, report_demo
from claudescale.testing.clock import ManualClock


def test_the_report_draws_the_dashboards_own_panels_and_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = report_panels(dashboard)
    by_title = {p["title"]: p for p in dashboard["panels"]}
    assert len(panels) == len(REPORT_METRICS)
    for panel, metric in zip(panels, REPORT_METRICS, strict=True):
        assert by_title[panel.title]["targets"][0]["expr"].count(metric) >= 1
        written = [(t["refId"], t["expr"]) for t in by_title[panel.title]["targets"]]
        assert [(q.ref_id, q.expr) for q in panel.queries] == written
    cpu, _, replicas = panels
    assert cpu.unit == "percentunit" and cpu.thresholds == (0.4,), "the 40 % line"
    assert any("min_replicas" in q.expr for q in replicas.queries)
    assert any("max_replicas" in q.expr for q in replicas.queries)


def test_a_dashboard_without_a_report_panel_is_refused_by_name() -> None:
    dashboard = read_dashboard()
    dashboard["panels"] = [p for p in dashboard["panels"] if p["id"] != 1]
    with pytest.raises(PanelQueryError, match="claudescale_workload_cpu_utilisation_ratio"):
        report_panels(dashboard)


def test_queries_get_the_demos_variables_and_grafanas_rate_interval() -> None:
    window = Window.of(1000.0, 1060.0, scrape_interval_s=1.0)
    assert window.step_s == 1.0 and window.rate_interval == "4000ms"
    assert Window.of(0.0, 3000.0, 1.0).rate_interval == "7000ms", "step 6 s + 1 s scrape"
    for panel in report_panels(read_dashboard()):
        for query in panel.queries:
            expr = runnable(query.expr, "demo", window)
            assert "$" not in expr.replace('"$1"', ""), expr
            assert 'namespace=~"demo"' in expr


def test_graph_links_carry_the_same_queries_over_the_same_window() -> None:
    window = Window.of(1_790_000_000.0, 1_790_000_300.0, scrape_interval_s=1.0)
    exprs = [runnable(q.expr, "demo", window) for q in report_panels(read_dashboard())[0].queries]
    link = graph_link("http://127.0.0.1:9090", exprs, window)
    assert link.startswith("http://127.0.0.1:9090/graph?")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert [params[f"g{i}.expr"][0] for i in range(len(exprs))] == exprs
    assert params["g0.range_input"] == ["300s"]


def test_legends_follow_grafanas_templates() -> None:
    labels = {"namespace": "demo", "deployment": "web"}
    assert legend("desired {{namespace}}/{{ deployment }}", labels) == "desired demo/web"
    assert legend("", labels) == '{deployment="web", namespace="demo"}'


def test_actions_and_refusals_of_the_audit_log_become_markers(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 20, clock) as log:
        log.append("outcome", {"workload": "demo/web", "code": "ok", "from": 3, "to": 4})
        clock.advance(5.0)
        log.append("verdict", {"workload": "demo/web", "code": "cooldown_up", "from": 4, "to": 5})
        log.append("verdict", {"workload": "demo/web", "code": "hold", "from": 4, "to": 4})
        log.append("outcome", {"workload": "demo/web", "code": "conflict", "from": 4, "to": 5})
        log.append("outcome", {"workload": "demo/web", "code": "ok", "from": 4, "to": 3})
    markers = markers_from_audit(path)
    assert [(m.kind, m.replicas, m.code) for m in markers] == [
        ("up", 4, "ok"),
        ("refused", 4, "cooldown_up"),
        ("down", 3, "ok"),
    ]
    assert markers[1].at_s - markers[0].at_s == pytest.approx(5.0)


def test_the_picture_is_a_png_of_the_promised_size(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    with AuditLog(audit_path, 1 << 20, ManualClock(wall_start=1010.0)) as log:
        log.append("outcome", {"workload": "demo/web", "code": "ok", "from": 3, "to": 4})
    window = Window.of(1000.0, 1030.0, scrape_interval_s=1.0)
    times = tuple(1000.0 + i for i in range(31))
    data = []
    for panel in report_panels(read_dashboard()):
        series = [
            Series(
                q.ref_id,
                f"{q.ref_id} demo/web",
                "demo/web",
                times,
                tuple(0.1 * i for i in range(31)),
            )
            for q in panel.queries
        ]
        data.append((panel, series))
    markers = markers_from_audit(audit_path)
    assert len(markers) == 1
    path = tmp_path / "report.png"
    draw(path, data, markers, window, "claudescale demo test")
    pixels = pyplot.imread(path)
    assert (pixels.shape[1], pixels.shape[0]) == REPORT_SIZE_PX
    colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::97]}
    assert len(colours) > 20, "a picture with lines in it, not a blank page"


def test_a_report_that_cannot_be_made_says_why_and_leaves_no_stale_picture(
    tmp_path: Path,
) -> None:
    output, run_dir = tmp_path / "demo-output", tmp_path / "demo-output" / "run"
    run_dir.mkdir(parents=True)
    (output / "report.png").write_bytes(b"an earlier run's picture")
    lines = report_demo(
        run_dir=run_dir,
        output=output,
        dashboard=tmp_path / "missing.json",
        prometheus_url="http://127.0.0.1:9",
        namespace="demo",
        window=Window.of(1000.0, 1030.0, scrape_interval_s=1.0),
        title="claudescale demo test",
    )
    assert len(lines) == 1 and lines[0].startswith("claudescale demo: no report.png:")
    assert "missing.json" in lines[0]
    assert not (output / "report.png").exists()
