"""What the workload cache keeps of each object: the fields ``convert`` reads, in the API's
own JSON shape, cut down on arrival.

Layer: adapter; pure functions on the API's camelCase dicts, no I/O. Thousands of full
Deployments and pods (``managedFields``, ``last-applied-configuration``, container specs,
status conditions) held in memory cost tens of MiB; a cached object keeps only what
``convert.workload_state``, ``convert.owner_of``, ``convert.is_managed`` and the informers'
change detection (name, ``resourceVersion``) read, so converting a kept object gives the
same state as converting the whole one. It must not drop a field those functions read:
adding a read there means adding the field here (``tests/adapters/test_kubernetes_compact``
checks that both give the same state).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from claudescale.adapters.kubernetes.convert import FIELD_MANAGER, Json
from claudescale.core.limits import ANNOTATION_PREFIX

_META = ("name", "namespace", "resourceVersion")
_DEPLOYMENT_META = (*_META, "uid", "generation", "labels")
_DEPLOYMENT_STATUS = ("observedGeneration", "updatedReplicas", "readyReplicas", "availableReplicas")


def compact_deployment(deployment: Json) -> Json:
    """Name, uid, versions, labels, claudescale's annotations and its scale writes'
    ``managedFields`` times; replicas and selector; the rollout counts."""
    meta: Json = deployment.get("metadata") or {}
    kept = _pick(meta, _DEPLOYMENT_META)
    annotations = {
        key: value
        for key, value in (meta.get("annotations") or {}).items()
        if str(key).startswith(ANNOTATION_PREFIX)
    }
    if annotations:
        kept["annotations"] = annotations
    ours = [
        _pick(entry, ("manager", "subresource", "time"))
        for entry in meta.get("managedFields") or ()
        if isinstance(entry, dict) and entry.get("manager") == FIELD_MANAGER
    ]
    if ours:
        kept["managedFields"] = ours
    return {
        "metadata": kept,
        "spec": _pick(deployment.get("spec") or {}, ("replicas", "selector")),
        "status": _pick(deployment.get("status") or {}, _DEPLOYMENT_STATUS),
    }


def compact_pod(pod: Json) -> Json:
    """Name, version, labels, whether it is terminating; each container's CPU request and
    limit; the Ready condition and the start time."""
    meta: Json = pod.get("metadata") or {}
    kept = _pick(meta, (*_META, "labels"))
    if meta.get("deletionTimestamp") is not None:
        kept["deletionTimestamp"] = meta["deletionTimestamp"]
    status: Json = pod.get("status") or {}
    conditions = [
        _pick(c, ("type", "status"))
        for c in status.get("conditions") or ()
        if isinstance(c, dict) and c.get("type") == "Ready"
    ]
    kept_status = _pick(status, ("startTime",))
    if conditions:
        kept_status["conditions"] = conditions
    return {
        "metadata": kept,
        "spec": {"containers": [_cpu(c) for c in (pod.get("spec") or {}).get("containers") or ()]},
        "status": kept_status,
    }


def compact_target(owner: Json) -> Json:
    """An HPA or ScaledObject: its name, version and ``spec.scaleTargetRef``."""
    return {
        "metadata": _pick(owner.get("metadata") or {}, _META),
        "spec": _pick(owner.get("spec") or {}, ("scaleTargetRef",)),
    }


def _cpu(container: Any) -> Json:
    resources = (container.get("resources") or {}) if isinstance(container, dict) else {}
    kept = {
        part: {"cpu": (resources.get(part) or {})["cpu"]}
        for part in ("requests", "limits")
        if "cpu" in (resources.get(part) or {})
    }
    return {"resources": kept}


def _pick(obj: Json, keys: Iterable[str]) -> dict[str, Any]:
    """The present ``keys`` of ``obj``; short strings interned (thousands of objects repeat
    the same label values, CPU quantities and condition words)."""
    return {key: _intern(obj[key]) for key in keys if key in obj}


def _intern(value: Any) -> Any:
    if isinstance(value, str) and len(value) <= 64:
        return sys.intern(value)
    if isinstance(value, dict):
        return {_intern(k): _intern(v) for k, v in value.items()}
    return value
