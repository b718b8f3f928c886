"""Turning Kubernetes JSON (Deployments, Scale, Pods, HPAs, ScaledObjects) into WorkloadState.

Layer: adapter; pure functions on the API's camelCase dicts, no I/O. Missing fields are read
as the API server's defaults (it omits zero counts), never as errors.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from claudescale.core.limits import annotation_overrides
from claudescale.core.values import PodState, WorkloadRef, WorkloadState

Json = Mapping[str, Any]
PAUSED_ANNOTATION = "claudescale.io/paused"


def cpu_cores(quantity: Any) -> float | None:
    """A CPU quantity (``250m``, ``0.5``, ``2``) in cores; None when it cannot be read."""
    if isinstance(quantity, int | float) and not isinstance(quantity, bool):
        return float(quantity)
    if not isinstance(quantity, str) or not quantity.strip():
        return None
    text = quantity.strip()
    scale = Decimal(1)
    if text.endswith("m"):
        text, scale = text[:-1], Decimal("0.001")
    try:
        value = Decimal(text) * scale
    except InvalidOperation:
        return None
    return float(value) if value.is_finite() and value >= 0 else None


def _unix_s(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


FIELD_MANAGER = "claudescale"
"""The field manager of our scale writes (``fieldManager`` on the PATCH)."""


def scaled_by_us_at(deployment: Json, manager: str = FIELD_MANAGER) -> float | None:
    """When ``manager`` last wrote the scale subresource: the ``time`` (Unix seconds, whole
    seconds) of its ``managedFields`` entry with ``subresource: scale``; None without one."""
    entries = (deployment.get("metadata") or {}).get("managedFields") or ()
    times = [
        _unix_s(entry.get("time"))
        for entry in entries
        if isinstance(entry, dict)
        and entry.get("manager") == manager
        and entry.get("subresource") == "scale"
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def selector_matches(selector: Json | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions) selects these labels.

    An absent or empty selector selects nothing, as for a Deployment's pods."""
    if not selector:
        return False
    match_labels: Mapping[str, str] = selector.get("matchLabels") or {}
    expressions: Sequence[Json] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = str(expr.get("key")), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_text(selector: Json | None) -> str:
    """A LabelSelector in query-string form (``app=web,tier in (a,b)``)."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(sorted(expr.get("values") or []))
        op = expr.get("operator")
        parts.append(
            {
                "In": f"{expr['key']} in ({values})",
                "NotIn": f"{expr['key']} notin ({values})",
                "Exists": f"{expr['key']}",
            }.get(str(op), f"!{expr['key']}")
        )
    return ",".join(parts)


def pod_state(pod: Json) -> PodState:
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    requests: list[float | None] = [
        cpu_cores(((c.get("resources") or {}).get("requests") or {}).get("cpu"))
        for c in spec.get("containers") or []
    ]
    total = _all_or_none(requests)
    limits = [
        cpu_cores(((c.get("resources") or {}).get("limits") or {}).get("cpu"))
        for c in spec.get("containers") or []
    ]
    return PodState(
        name=str(meta.get("name", "")),
        ready=ready,
        terminating=meta.get("deletionTimestamp") is not None,
        cpu_request_cores=total,
        cpu_limit_cores=_all_or_none(limits),
        start_time_unix_s=_unix_s(status.get("startTime")),
    )


def _all_or_none(cores: list[float | None]) -> float | None:
    """The sum over every container, or None when any container has no value."""
    if not cores or any(c is None for c in cores):
        return None
    return sum(c for c in cores if c is not None)


def owner_of(name: str, hpas: Iterable[Json], scaled_objects: Iterable[Json]) -> str | None:
    """``HorizontalPodAutoscaler/<n>`` or ``ScaledObject/<n>`` when one targets Deployment
    ``name``; None otherwise."""
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        group = str(ref.get("apiVersion", "apps/v1")).partition("/")[0]
        if (
            ref.get("kind") == "Deployment"
            and ref.get("name") == name
            and group in ("apps", "extensions")
        ):
            return f"HorizontalPodAutoscaler/{hpa['metadata']['name']}"
    for scaled in scaled_objects:
        ref = (scaled.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind", "Deployment") == "Deployment" and ref.get("name") == name:
            return f"ScaledObject/{scaled['metadata']['name']}"
    return None


def rollout_in_progress(deployment: Json) -> bool:
    """generation not yet observed, or fewer updated/ready/available replicas than wanted."""
    meta, status = deployment.get("metadata", {}), deployment.get("status") or {}
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    if int(meta.get("generation", 0)) != int(status.get("observedGeneration", 0)):
        return True
    return any(
        int(status.get(field, 0)) < wanted
        for field in ("updatedReplicas", "readyReplicas", "availableReplicas")
    )


def is_managed(deployment: Json, namespaces: Sequence[str], opt_in_label: str) -> bool:
    meta = deployment.get("metadata", {})
    labels = meta.get("labels") or {}
    return meta.get("namespace") in namespaces and labels.get(opt_in_label) == "true"


class PodIndex:
    """Pods of one namespace indexed by label pair, so that finding each Deployment's pods
    costs the size of its own posting list, not the whole namespace (a cycle over thousands
    of Deployments would otherwise match every pod against every selector)."""

    def __init__(self, pods: Iterable[Json]) -> None:
        self._all = list(pods)
        self._by_pair: dict[tuple[str, str], list[Json]] = {}
        for pod in self._all:
            for pair in ((pod.get("metadata") or {}).get("labels") or {}).items():
                self._by_pair.setdefault(pair, []).append(pod)

    def candidates(self, selector: Json | None) -> list[Json]:
        """A superset of the pods ``selector`` selects (still to be checked with
        ``selector_matches``)."""
        match_labels: Mapping[str, str] = (selector or {}).get("matchLabels") or {}
        if not match_labels:
            return self._all
        return min((self._by_pair.get(pair, []) for pair in match_labels.items()), key=len)


def workload_state(
    deployment: Json,
    *,
    namespaces: Sequence[str],
    opt_in_label: str,
    scale: Json | None = None,
    pods: Iterable[Json] | None = None,
    owner: str | None = None,
) -> WorkloadState:
    """A WorkloadState from a Deployment (and, when given, its Scale and pods).

    Without a Scale, replicas and resourceVersion come from the Deployment, which the scale
    subresource shares. Pods are filtered by the Deployment's selector here."""
    meta, spec = deployment.get("metadata", {}), deployment.get("spec") or {}
    status = deployment.get("status") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    if scale is not None:
        replicas = int((scale.get("spec") or {}).get("replicas", 0))
        resource_version = str(scale["metadata"]["resourceVersion"])
        selector = str((scale.get("status") or {}).get("selector", ""))
    else:
        replicas = int(spec.get("replicas", 1))
        resource_version = str(meta.get("resourceVersion", ""))
        selector = selector_text(spec.get("selector"))
    chosen = tuple(
        pod_state(p)
        for p in pods or ()
        if selector_matches(spec.get("selector"), (p.get("metadata") or {}).get("labels") or {})
    )
    paused = str(annotations.get(PAUSED_ANNOTATION, "")).strip().lower() == "true"
    return WorkloadState(
        ref=WorkloadRef(str(meta.get("namespace", "")), str(meta.get("name", ""))),
        uid=str(meta.get("uid", "")),
        replicas=replicas,
        resource_version=resource_version,
        ready_replicas=int(status.get("readyReplicas", 0)),
        rollout_in_progress=rollout_in_progress(deployment),
        paused=paused or replicas == 0,
        owner=owner,
        managed=is_managed(deployment, namespaces, opt_in_label),
        pods=tuple(sorted(chosen, key=lambda p: p.name)),
        overrides=annotation_overrides(annotations),
        selector=selector,
        last_scaled_by_us_at_wall=scaled_by_us_at(deployment),
    )
