"""Server-side printing: ``meta.k8s.io/v1 Table`` answers for clients that ask for them.

Layer: sandbox. kubectl asks for ``Accept: application/json;as=Table;...`` and prints the
columns it gets back, so these mirror the API server's columns for the resources we serve.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Sequence
from typing import Any

from claudescale.sim.objects import Obj
from claudescale.sim.resources import Resource

Column = tuple[str, str, Callable[[Obj, float], Any]]


def wants_table(accept: str) -> bool:
    return "as=table" in accept.replace(" ", "").lower()


def age(obj: Obj, now_wall_s: float) -> str:
    return _since(obj.get("metadata", {}).get("creationTimestamp"), now_wall_s)


def _since(stamp: str | None, now_wall_s: float) -> str:
    """``kubectl``'s short age of an RFC 3339 time (``Time`` or ``MicroTime``)."""
    if not stamp:
        return "<unknown>"
    parsed = time.strptime(stamp.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    seconds = max(0, int(now_wall_s - calendar.timegm(parsed)))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _pod_status(pod: Obj, _: float) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    phase = str(pod.get("status", {}).get("phase", "Pending"))
    return "ContainerCreating" if phase == "Pending" else phase


def _pod_ready(pod: Obj, _: float) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod["spec"].get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _deployment_ready(d: Obj, _: float) -> str:
    return f"{d.get('status', {}).get('readyReplicas', 0)}/{d['spec'].get('replicas', 1)}"


def _status_int(field: str) -> Callable[[Obj, float], int]:
    return lambda obj, _: int(obj.get("status", {}).get(field, 0))


def _hpa_reference(h: Obj, _: float) -> str:
    ref = h["spec"]["scaleTargetRef"]
    return f"{ref.get('kind', 'Deployment')}/{ref['name']}"


def _event_last_seen(event: Obj, now_wall_s: float) -> str:
    series = event.get("series") or {}
    stamp = (
        series.get("lastObservedTime")
        or event.get("lastTimestamp")
        or event.get("deprecatedLastTimestamp")
        or event.get("eventTime")
    )
    return _since(stamp, now_wall_s)


def _event_object(event: Obj, _: float) -> str:
    about = event.get("involvedObject") or event.get("regarding") or {}
    return f"{str(about.get('kind', '')).lower()}/{about.get('name', '')}"


_NAME: Column = ("Name", "name", lambda obj, _: obj["metadata"]["name"])
_AGE: Column = ("Age", "string", age)

COLUMNS: dict[str, Sequence[Column]] = {
    "deployments": (
        _NAME,
        ("Ready", "string", _deployment_ready),
        ("Up-to-date", "integer", _status_int("updatedReplicas")),
        ("Available", "integer", _status_int("availableReplicas")),
        _AGE,
    ),
    "pods": (
        _NAME,
        ("Ready", "string", _pod_ready),
        ("Status", "string", _pod_status),
        ("Restarts", "integer", lambda pod, _: 0),
        _AGE,
    ),
    "horizontalpodautoscalers": (
        _NAME,
        ("Reference", "string", _hpa_reference),
        ("MinPods", "integer", lambda h, _: h["spec"].get("minReplicas", 1)),
        ("MaxPods", "integer", lambda h, _: h["spec"]["maxReplicas"]),
        ("Replicas", "integer", _status_int("currentReplicas")),
        _AGE,
    ),
    "events": (
        ("Last Seen", "string", _event_last_seen),
        ("Type", "string", lambda e, _: e.get("type", "")),
        ("Reason", "string", lambda e, _: e.get("reason", "")),
        ("Object", "string", _event_object),
        ("Message", "string", lambda e, _: e.get("message", e.get("note", ""))),
    ),
    "leases": (
        _NAME,
        ("Holder", "string", lambda lease, _: lease.get("spec", {}).get("holderIdentity", "")),
        _AGE,
    ),
    "namespaces": (
        _NAME,
        ("Status", "string", lambda ns, _: ns.get("status", {}).get("phase", "Active")),
        _AGE,
    ),
}


def table(
    resource: Resource, items: Sequence[Obj], resource_version: str, now_wall_s: float
) -> Obj:
    columns = COLUMNS.get(resource.plural, (_NAME, _AGE))
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": 0,
            }
            for name, kind, _ in columns
        ],
        "rows": [
            {
                "cells": [cell(item, now_wall_s) for _, _, cell in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item["metadata"],
                },
            }
            for item in items
        ],
    }
