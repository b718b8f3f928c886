"""Reading Kubernetes JSON into WorkloadState: defaults for omitted fields, rollouts,
owners, selectors and CPU quantities (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from claudescale.adapters.kubernetes.convert import (
    PodIndex,
    cpu_cores,
    owner_of,
    selector_matches,
    selector_text,
    workload_state,
)


def _deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "demo",
            "uid": "u-1",
            "generation": 2,
            "resourceVersion": "42",
            "labels": {"claudescale.io/enabled": "true"},
        },
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
        "status": status,
    }


FULL = {
    "observedGeneration": 2,
    "replicas": 3,
    "updatedReplicas": 3,
    "readyReplicas": 3,
    "availableReplicas": 3,
}


@pytest.mark.parametrize(
    ("status", "in_progress"),
    [
        (FULL, False),
        ({**FULL, "observedGeneration": 1}, True),
        ({**FULL, "updatedReplicas": 2}, True),
        ({**FULL, "readyReplicas": 2}, True),
        ({**FULL, "availableReplicas": 2}, True),
        ({"observedGeneration": 2}, True),
    ],
)
def test_rollout_in_progress_until_generation_is_observed_and_replicas_are_all_there(
    status: dict[str, Any], in_progress: bool
) -> None:
    state = workload_state(
        _deployment(**status), namespaces=("demo",), opt_in_label="claudescale.io/enabled"
    )
    assert state.rollout_in_progress is in_progress


def test_omitted_counts_read_as_zero_and_scale_wins_over_the_deployment() -> None:
    scale = {
        "metadata": {"resourceVersion": "43"},
        "spec": {"replicas": 4},
        "status": {"selector": "app=web"},
    }

    state = workload_state(
        _deployment(), namespaces=("demo",), opt_in_label="claudescale.io/enabled", scale=scale
    )

    assert (state.replicas, state.resource_version, state.ready_replicas) == (4, "43", 0)
    assert state.selector == "app=web" and state.managed


def test_a_workload_outside_the_configured_namespaces_is_not_managed() -> None:
    state = workload_state(
        _deployment(**FULL), namespaces=("shop",), opt_in_label="claudescale.io/enabled"
    )
    assert not state.managed


def test_pods_are_chosen_by_the_selector_and_sum_their_container_requests() -> None:
    def pod(name: str, app: str, *requests: str | None) -> dict[str, Any]:
        containers = [
            {"name": f"c{i}", "resources": {"requests": {"cpu": r}} if r else {}}
            for i, r in enumerate(requests)
        ]
        return {
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": containers},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }

    pods = [
        pod("web-a", "web", "250m", "0.5"),
        pod("web-b", "web", "1", None),
        pod("api-a", "api", "2"),
    ]

    state = workload_state(
        _deployment(**FULL), namespaces=("demo",), opt_in_label="claudescale.io/enabled", pods=pods
    )

    assert [(p.name, p.cpu_request_cores) for p in state.pods] == [("web-a", 0.75), ("web-b", None)]


@pytest.mark.parametrize(
    ("quantity", "cores"),
    [
        ("250m", 0.25),
        ("1", 1.0),
        ("0.5", 0.5),
        (2, 2.0),
        ("1500m", 1.5),
        ("", None),
        ("lots", None),
        (None, None),
        ("-1", None),
    ],
)
def test_cpu_quantities(quantity: Any, cores: float | None) -> None:
    assert cpu_cores(quantity) == cores


def test_selectors_with_expressions_match_and_render() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }

    assert selector_matches(selector, {"app": "web", "tier": "edge"})
    assert not selector_matches(selector, {"app": "web", "tier": "back"})
    assert not selector_matches(selector, {"app": "web", "tier": "edge", "canary": "1"})
    assert not selector_matches({}, {"app": "web"})
    assert selector_text(selector) == "app=web,tier in (edge,front),!canary"


def test_owner_is_an_hpa_or_scaled_object_that_targets_this_deployment() -> None:
    hpas = [
        {
            "metadata": {"name": "other"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web"}
            },
        },
        {
            "metadata": {"name": "web-hpa"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
            },
        },
    ]
    scaled = [{"metadata": {"name": "api-so"}, "spec": {"scaleTargetRef": {"name": "api"}}}]

    assert owner_of("web", hpas, scaled) == "HorizontalPodAutoscaler/web-hpa"
    assert owner_of("api", hpas, scaled) == "ScaledObject/api-so"
    assert owner_of("db", hpas, scaled) is None


def test_the_pod_index_finds_the_same_pods_as_matching_every_selector() -> None:
    pods = [
        {"metadata": {"name": f"p{i}", "labels": {"app": f"a{i % 7}", "tier": f"t{i % 3}"}}}
        for i in range(60)
    ]
    index = PodIndex(pods)
    selectors = [
        {"matchLabels": {"app": "a3"}},
        {"matchLabels": {"app": "a3", "tier": "t1"}},
        {"matchLabels": {"app": "nope"}},
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["t2"]}]},
        {},
    ]
    for selector in selectors:
        labels_of = [p["metadata"]["labels"] for p in pods]
        expected = [
            p
            for p, labels in zip(pods, labels_of, strict=True)
            if selector_matches(selector, labels)
        ]
        found = [
            p
            for p in index.candidates(selector)
            if selector_matches(selector, p["metadata"]["labels"])
        ]
        assert found == expected
    assert len(index.candidates({"matchLabels": {"app": "a3", "tier": "t1"}})) <= 9
