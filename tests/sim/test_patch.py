"""The three PATCH forms, as the API server applies them."""

from __future__ import annotations

from typing import Any

import pytest

from claudescale.sim.patch import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, apply_patch
from claudescale.sim.status import SimApiError

DEPLOYMENT: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [{"name": "app", "image": "a:1"}, {"name": "sidecar", "image": "s:1"}]
            }
        },
    },
}


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    patch = {
        "metadata": {"labels": {"tier": None, "x": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}},
    }

    result = apply_patch(MERGE_PATCH, DEPLOYMENT, patch)

    assert result["metadata"]["labels"] == {"app": "web", "x": "1"}
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "a:2"}]
    assert DEPLOYMENT["metadata"]["labels"]["tier"] == "front"


def test_strategic_merge_patch_merges_containers_by_name() -> None:
    patch = {
        "spec": {
            "replicas": 5,
            "template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}},
        }
    }

    result = apply_patch(STRATEGIC_MERGE_PATCH + "; charset=utf-8", DEPLOYMENT, patch)

    assert result["spec"]["replicas"] == 5
    assert [c["image"] for c in result["spec"]["template"]["spec"]["containers"]] == ["a:2", "s:1"]


def test_json_patch_applies_operations_in_order() -> None:
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
    ]

    result = apply_patch(JSON_PATCH, DEPLOYMENT, ops)

    assert result["spec"]["replicas"] == 4
    assert result["metadata"]["labels"]["x/y"] == "z"
    assert len(result["spec"]["template"]["spec"]["containers"]) == 1


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        (JSON_PATCH, {"spec": {"replicas": 4}}, 400),
        (JSON_PATCH, [{"op": "test", "path": "/spec/replicas", "value": 9}], 422),
        (JSON_PATCH, [{"op": "replace", "path": "/spec/nothing/here", "value": 1}], 422),
        ("application/yaml", {"spec": {}}, 415),
        (MERGE_PATCH, [1, 2], 400),
    ],
)
def test_malformed_or_failing_patches_answer_like_the_api_server(
    content_type: str, body: Any, code: int
) -> None:
    with pytest.raises(SimApiError) as raised:
        apply_patch(content_type, DEPLOYMENT, body)
    assert raised.value.code == code
