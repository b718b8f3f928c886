"""Kubernetes object shapes the sandbox serves: Status bodies, Deployments, Pods, Scale, HPAs.

Layer: sandbox (claudescale.sim), never imported by product code. Objects are plain JSON-ready
dicts in the API's camelCase form; builders return new dicts and never mutate their inputs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, TypedDict

from claudescale.sim.status import Obj

__all__ = ["Obj"]

CONTAINER_NAME = "app"
DEFAULT_IMAGE = "registry.k8s.io/pause:3.9"
ENABLED_LABEL = "claudescale.io/enabled"


class Ids(TypedDict):
    """What the server assigns a new object: a uid and a creation stamp."""

    uid: str
    created: str


def rfc3339(wall_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_s))


def parse_cpu_cores(quantity: str | int | float) -> float:
    """``"250m"`` is 0.25 cores, ``"1"`` or ``1`` is one core; raises ValueError otherwise."""
    if isinstance(quantity, int | float):
        return float(quantity)
    text = quantity.strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000.0
    return float(text)


def selector_string(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as the scale subresource's ``status.selector`` string."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts)


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable short hash of a pod template, like the ``pod-template-hash`` label."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def new_deployment(
    namespace: str,
    name: str,
    *,
    uid: str,
    created: str,
    replicas: int,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    cpu_request: str | None,
    cpu_limit: str | None,
) -> Obj:
    pod_labels = {"app": name}
    resources: Obj = {}
    if cpu_request is not None:
        resources["requests"] = {"cpu": cpu_request}
    if cpu_limit is not None:
        resources["limits"] = {"cpu": cpu_limit}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "generation": 1,
            "creationTimestamp": created,
            "labels": {"app": name, **labels},
            "annotations": dict(annotations),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(pod_labels)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": dict(pod_labels)},
                "spec": {
                    "containers": [
                        {
                            "name": CONTAINER_NAME,
                            "image": DEFAULT_IMAGE,
                            "resources": resources,
                        }
                    ]
                },
            },
        },
        "status": {"observedGeneration": 0, "replicas": 0},
    }


def scale_of(deployment: Mapping[str, Any]) -> Obj:
    """The ``autoscaling/v1 Scale`` view of a Deployment; it shares its resourceVersion."""
    meta = deployment["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": deployment["spec"].get("replicas", 1)},
        "status": {
            "replicas": deployment.get("status", {}).get("replicas", 0),
            "selector": selector_string(deployment["spec"].get("selector", {})),
        },
    }


def new_pod(
    deployment: Mapping[str, Any], name: str, *, uid: str, created: str, pod_hash: str
) -> Obj:
    template = deployment["spec"]["template"]
    meta = deployment["metadata"]
    labels = {**(template.get("metadata", {}).get("labels") or {}), "pod-template-hash": pod_hash}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "uid": uid,
            "creationTimestamp": created,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{meta['name']}-{pod_hash}",
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": json.loads(json.dumps(template["spec"]["containers"])),
            "nodeName": "sandbox-node",
            "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ],
        },
    }


def pod_with_readiness(pod: Mapping[str, Any], ready: bool, started: str) -> Obj:
    new: Obj = json.loads(json.dumps(pod))
    containers = new["spec"]["containers"]
    new["status"] = {
        "phase": "Running" if ready else "Pending",
        "startTime": started,
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "ready": ready,
                "restartCount": 0,
                "image": c.get("image", DEFAULT_IMAGE),
                "imageID": f"{c.get('image', DEFAULT_IMAGE)}@sha256:{_digest(c['name'])}",
                "containerID": f"containerd://{_digest(new['metadata']['name'] + c['name'])}",
                "started": ready,
                "state": {"running": {"startedAt": started}}
                if ready
                else {"waiting": {"reason": "ContainerCreating"}},
            }
            for c in containers
        ],
    }
    return new


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_hpa(
    namespace: str,
    name: str,
    target: str,
    *,
    uid: str,
    created: str,
    min_replicas: int = 1,
    max_replicas: int = 10,
) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": created,
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
        },
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }


def new_scaled_object(namespace: str, name: str, target: str, *, uid: str, created: str) -> Obj:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": created,
        },
        "spec": {"scaleTargetRef": {"name": target}, "triggers": []},
    }


def new_namespace(name: str, *, uid: str, created: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": uid,
            "creationTimestamp": created,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
