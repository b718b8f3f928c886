"""``claudescale status [--json]``: each managed workload the way ``kubectl describe hpa``
shows one (replicas, bounds, CPU, cooldowns left, the last decisions, pending approvals).

Layer: edge (CLI). It asks the running service first (``GET /status`` on its health endpoint,
``service.host``:``service.port`` of the settings, or ``--url``), which costs the service no
cluster or Prometheus read. When no service answers, it builds the same document from the
service's state (``status_state``) and says so. ``--json`` prints the document itself, one
JSON object, for machines. It changes nothing. Text from a model or the cluster is escaped.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from claudescale.adapters.system_clock import SystemClock
from claudescale.cli.settings_source import state_settings
from claudescale.config import CONFIG_ENV, Settings, load_settings
from claudescale.core.text import printable

FETCH_TIMEOUT_S = 3.0
"""How long the service gets to answer ``/status`` before the state files are read instead."""
_ANY_ADDRESS = {"0.0.0.0", "::", ""}
_LABEL_WIDTH = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="Show each workload: replicas, bounds, CPU, cooldowns, decisions, approvals.",
        description="Show each managed workload like `kubectl describe hpa`: replicas, "
        "bounds, CPU, cooldowns left, the last decisions and pending approvals. Asks the "
        "running service (GET /status); without one, reads its audit log and approvals.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"The service's YAML settings file (default: ${CONFIG_ENV}).",
    )
    parser.add_argument(
        "--url",
        default=None,
        help="The service's health endpoint (default: http://service.host:service.port).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.set_defaults(handler=show_status)


def show_status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    url = (args.url or service_url(settings)).rstrip("/")
    document = fetch_status(url)
    if document is None:
        from claudescale.cli.status_state import state_status

        document = state_status(state_settings(args.config), SystemClock(), service_url=url)
    if args.json:
        sys.stdout.write(orjson.dumps(document).decode() + "\n")
    else:
        sys.stdout.write(render(document, now_wall_s=SystemClock().wall()))
    sys.stdout.flush()
    return 0


def service_url(settings: Settings) -> str:
    host = settings.service.host
    host = "127.0.0.1" if host in _ANY_ADDRESS else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.service.port}"


def fetch_status(url: str) -> dict[str, Any] | None:
    """The running service's document, or None when nothing there answers it."""
    try:
        with urllib.request.urlopen(f"{url}/status", timeout=FETCH_TIMEOUT_S) as response:
            document = orjson.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return document if isinstance(document, dict) and "workloads" in document else None


# -- text ----------------------------------------------------------------------------------


def render(document: dict[str, Any], *, now_wall_s: float) -> str:
    lines = [_headline(document), f"Kill switch: {'on' if document.get('kill_switch') else 'off'}"]
    if document.get("audit_problem"):
        lines.append(f"Audit log: {document['audit_problem']}")
    workloads = document.get("workloads") or []
    if not workloads:
        lines.append("No managed workloads yet.")
    for workload in workloads:
        lines += ["", *_describe(workload, now_wall_s)]
    return "\n".join(printable(line) for line in lines) + "\n"


def _headline(document: dict[str, Any]) -> str:
    mode = document.get("mode", "?")
    if document.get("source") == "service":
        health = document.get("loop_health", "?")
        blind = document.get("blind_reason")
        seeing = f"blind: {blind}" if health == "blind" and blind else health
        cycles = document.get("cycles", 0)
        return f"From the running service ({mode} mode, {seeing}, {cycles} cycles)."
    as_of = document.get("as_of") or "no records yet"
    return (
        f"No service answered at {document.get('service_url')}; from its state ({mode} mode): "
        f"{document.get('audit_path')} as of {as_of}."
    )


def _describe(w: dict[str, Any], now_wall_s: float) -> list[str]:
    cpu = w.get("cpu_percent")
    cpu_text = "unknown" if cpu is None else f"{cpu:g}% of requests"
    if cpu is not None and w.get("cpu_age_s") is not None:
        cpu_text += f" (read {w['cpu_age_s']:g} s ago)"
    if w.get("scale_down_below_cpu_percent") is not None:
        cpu_text += f"; scale-down needs below {w['scale_down_below_cpu_percent']:g}%"
    ready = "" if w.get("ready_pods") is None else f", {w['ready_pods']} ready"
    rows = [
        ("Name", w.get("workload")),
        ("Replicas", f"{_or_unknown(w.get('replicas'))} desired{ready}"),
        ("Bounds", f"{_or_unknown(w.get('min_replicas'))} to {_or_unknown(w.get('max_replicas'))}"),
        ("CPU", cpu_text),
        (
            "Cooldowns left",
            f"scale-up {w.get('cooldown_up_s_left', 0):g} s, "
            f"scale-down {w.get('cooldown_down_s_left', 0):g} s",
        ),
    ]
    stops = [
        text
        for flag, text in (
            (w.get("paused"), "paused"),
            (w.get("owner"), f"owned by {w.get('owner')}"),
            (
                w.get("external_controller"),
                "external_controller (after fixing what reverted us: "
                f"claudescale clear-external {w.get('workload')})",
            ),
            (w.get("limits_error"), f"invalid annotations: {w.get('limits_error')}"),
        )
        if flag
    ]
    if stops:
        rows.append(("Stops", "; ".join(stops)))
    pending = w.get("pending_approvals") or []
    rows.append(("Pending approvals", "none" if not pending else _approval(pending[0])))
    rows += [("", _approval(a)) for a in pending[1:]]
    lines = [f"{label + ':' if label else '':<{_LABEL_WIDTH}}{value}" for label, value in rows]
    decisions = w.get("last_decisions") or []
    lines.append("Last decisions:" + ("" if decisions else " none"))
    if decisions:
        lines.append(f"  {'AGE':<8}{'SOURCE':<10}{'OUTCOME':<10}{'CODE':<26}{'CHANGE':<8}MESSAGE")
    for d in decisions:
        age = _age(now_wall_s - float(d.get("at_unix_s", now_wall_s)))
        change = f"{_or_unknown(d.get('from'))}→{_or_unknown(d.get('to'))}"
        lines.append(
            f"  {age:<8}{d.get('source', ''):<10}{d.get('outcome', ''):<10}"
            f"{d.get('code', ''):<26}{change:<8}{d.get('message', '')}"
        )
    return lines


def _approval(a: dict[str, Any]) -> str:
    return (
        f"{a.get('id')} {a.get('from')}→{a.get('to')}, {a.get('risk') or 'unrated'} risk, "
        f"proposed by {a.get('proposed_by')}, expires in {a.get('expires_in_s', 0):.0f} s"
    )


def _or_unknown(value: Any) -> str:
    return "?" if value is None else str(value)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"
