"""What the workload cache keeps of each object: converting the kept part gives the same
WorkloadState as converting the whole object, and the bulky parts are gone."""

from __future__ import annotations

from typing import Any

from claudescale.adapters.kubernetes.compact import compact_deployment, compact_pod, compact_target
from claudescale.adapters.kubernetes.convert import owner_of, workload_state

LABEL = "claudescale.io/enabled"
NAMESPACES = ("demo",)


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "demo",
            "uid": "u-1",
            "generation": 3,
            "resourceVersion": "42",
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "labels": {LABEL: "true", "team": "shop"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 4000 + "}",
                "claudescale.io/paused": "false",
                "claudescale.io/max-replicas": "8",
            },
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Apply",
                    "time": "2026-11-30T10:00:00Z",
                    "fieldsV1": {"f:spec": {"f:template": {}}},
                },
                {
                    "manager": "claudescale",
                    "operation": "Update",
                    "subresource": "scale",
                    "time": "2026-12-01T09:30:00Z",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                },
            ],
        },
        "spec": {
            "replicas": 4,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
            },
            "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
            "strategy": {"type": "RollingUpdate"},
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 4,
            "updatedReplicas": 4,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [{"type": "Available", "status": "True", "message": "m" * 200}],
        },
    }


def _pod(name: str, *, ready: bool, terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "demo",
        "resourceVersion": f"rv-{name}",
        "labels": {"app": "web", "tier": "front", "pod-template-hash": "abc"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "uid": "r-1"}],
        "managedFields": [{"manager": "kubelet", "time": "2026-12-01T09:00:00Z"}],
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-12-01T09:59:00Z"
    return {
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "web:1",
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "64Mi"},
                        "limits": {"cpu": "1", "memory": "128Mi"},
                    },
                },
                {"name": "sidecar", "resources": {"requests": {"cpu": "50m"}}},
            ],
            "volumes": [{"name": "token", "projected": {"sources": []}}],
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-12-01T09:00:00Z",
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
            "containerStatuses": [{"name": "web", "ready": ready, "restartCount": 0}],
        },
    }


def _state(deployment: dict[str, Any], pods: list[dict[str, Any]], owner: str | None) -> Any:
    return workload_state(
        deployment, namespaces=NAMESPACES, opt_in_label=LABEL, pods=pods, owner=owner
    )


def test_a_compacted_deployment_and_its_pods_convert_to_the_same_state() -> None:
    pods = [
        _pod("web-1", ready=True),
        _pod("web-2", ready=False),
        _pod("web-3", ready=True, terminating=True),
    ]
    hpas = [
        {
            "metadata": {"name": "web", "resourceVersion": "7", "labels": {"a": "b"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 9,
            },
        }
    ]
    owner = owner_of("web", hpas, [])

    whole = _state(_deployment(), pods, owner)
    kept = _state(
        compact_deployment(_deployment()),
        [compact_pod(p) for p in pods],
        owner_of("web", [compact_target(h) for h in hpas], []),
    )

    assert kept == whole
    assert whole.last_scaled_by_us_at_wall is not None
    assert whole.overrides and whole.owner == "HorizontalPodAutoscaler/web"


def test_absent_fields_stay_absent_so_the_api_defaults_still_apply() -> None:
    bare = {
        "metadata": {"name": "web", "namespace": "demo", "labels": {LABEL: "true"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
    }
    bare_pod = {"metadata": {"name": "web-1", "labels": {"app": "web"}}, "spec": {}}

    kept = _state(compact_deployment(bare), [compact_pod(bare_pod)], None)

    assert kept == _state(bare, [bare_pod], None)
    assert kept.replicas == 1


def test_the_bulky_parts_are_not_kept() -> None:
    deployment = compact_deployment(_deployment())
    pod = compact_pod(_pod("web-1", ready=True))

    assert deployment["metadata"]["annotations"] == {
        "claudescale.io/paused": "false",
        "claudescale.io/max-replicas": "8",
    }
    assert deployment["metadata"]["managedFields"] == [
        {"manager": "claudescale", "subresource": "scale", "time": "2026-12-01T09:30:00Z"}
    ]
    assert "template" not in deployment["spec"]
    assert "conditions" not in deployment["status"]
    assert "ownerReferences" not in pod["metadata"]
    assert "managedFields" not in pod["metadata"]
    assert pod["spec"] == {
        "containers": [
            {"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}},
            {"resources": {"requests": {"cpu": "50m"}}},
        ]
    }
    assert pod["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
