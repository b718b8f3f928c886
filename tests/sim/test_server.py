"""The sandbox over real HTTP: discovery, errors as Status bodies, writes, watches, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from claudescale.sim import Sandbox, SimOptions
from claudescale.testing.sandbox import SandboxRequest, StartSandbox

DEPLOYMENTS = "/apis/apps/v1/namespaces/demo/deployments"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_version_and_discovery_describe_the_served_resources(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    _, version = await sandbox_request(sandbox, "GET", "/version")
    _, core = await sandbox_request(sandbox, "GET", "/api")
    _, groups = await sandbox_request(sandbox, "GET", "/apis")
    _, apps = await sandbox_request(sandbox, "GET", "/apis/apps/v1")

    assert version["major"] == "1" and core["versions"] == ["v1"]
    assert {g["name"] for g in groups["groups"]} == {
        "apps",
        "autoscaling",
        "coordination.k8s.io",
        "events.k8s.io",
    }
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")


async def test_unknown_objects_and_resources_are_404_with_a_status_body(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    status, missing = await sandbox_request(sandbox, "GET", f"{DEPLOYMENTS}/nope")
    crd_status, crd = await sandbox_request(
        sandbox, "GET", "/apis/keda.sh/v1alpha1/namespaces/demo/scaledobjects"
    )

    assert status == 404 and missing["kind"] == "Status"
    assert (missing["reason"], missing["code"]) == ("NotFound", 404)
    assert missing["message"] == 'deployments.apps "nope" not found'
    assert (
        crd_status == 404 and crd["message"] == "the server could not find the requested resource"
    )


async def test_scale_patch_with_an_old_resource_version_is_409_with_a_status_body(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    _, scale = await sandbox_request(sandbox, "GET", f"{DEPLOYMENTS}/web/scale")
    sandbox.cluster.set_replicas("demo", "web", 5)
    patch = {
        "metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
        "spec": {"replicas": 4},
    }

    status, body = await sandbox_request(
        sandbox,
        "PATCH",
        f"{DEPLOYMENTS}/web/scale",
        patch,
        "application/strategic-merge-patch+json",
    )

    assert status == 409 and body["reason"] == "Conflict" and body["code"] == 409
    assert "the object has been modified" in body["message"]
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 5


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {"spec": {"replicas": 4}}),
        ("application/strategic-merge-patch+json", {"spec": {"replicas": 4}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": 4}]),
    ],
)
async def test_deployments_accept_every_patch_form_and_bump_generation(
    sandbox: Sandbox,
    content_type: str,
    patch: Any,
    sandbox_request: SandboxRequest,
) -> None:
    before = sandbox.cluster.deployment("demo", "web")

    status, body = await sandbox_request(
        sandbox, "PATCH", f"{DEPLOYMENTS}/web", patch, content_type
    )

    assert status == 200 and body["spec"]["replicas"] == 4
    assert body["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert int(body["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


async def test_replace_needs_the_current_resource_version(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    _, current = await sandbox_request(sandbox, "GET", f"{DEPLOYMENTS}/api")
    current["spec"]["replicas"] = 4

    ok_status, replaced = await sandbox_request(sandbox, "PUT", f"{DEPLOYMENTS}/api", current)
    stale_status, stale = await sandbox_request(sandbox, "PUT", f"{DEPLOYMENTS}/api", current)

    assert ok_status == 200 and replaced["spec"]["replicas"] == 4
    assert stale_status == 409 and stale["reason"] == "Conflict"


async def test_invalid_replicas_are_422(
    sandbox: Sandbox, http: aiohttp.ClientSession, sandbox_request: SandboxRequest
) -> None:
    status, body = await sandbox_request(
        sandbox,
        "PATCH",
        f"{DEPLOYMENTS}/web/scale",
        {"spec": {"replicas": -1}},
        "application/merge-patch+json",
    )
    assert status == 422 and body["reason"] == "Invalid"


async def _watch_lines(http: aiohttp.ClientSession, url: str, count: int) -> list[Any]:
    lines: list[Any] = []
    with anyio.fail_after(5):
        async with http.get(url) as response:
            while len(lines) < count:
                line = await response.content.readline()
                if not line:
                    break
                lines.append(orjson.loads(line))
    return lines


async def test_watch_streams_changes_after_a_resource_version(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    start = sandbox.cluster.store.resource_version
    sandbox.cluster.set_replicas("demo", "api", 3)

    events = await _watch_lines(
        http, f"{sandbox.url}{DEPLOYMENTS}?watch=true&resourceVersion={start}", 1
    )

    assert events[0]["type"] == "MODIFIED"
    assert events[0]["object"]["metadata"]["name"] == "api"
    assert events[0]["object"]["spec"]["replicas"] == 3


async def test_watch_without_a_version_starts_with_added_events(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    events = await _watch_lines(http, f"{sandbox.url}{DEPLOYMENTS}?watch=1", 2)

    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "api"),
        ("ADDED", "web"),
    ]


async def test_watch_from_a_compacted_version_gets_an_error_event_with_410(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    old = sandbox.cluster.store.resource_version
    sandbox.cluster.set_replicas("demo", "web", 4)
    sandbox.cluster.store.compact()

    events = await _watch_lines(
        http, f"{sandbox.url}{DEPLOYMENTS}?watch=true&resourceVersion={old}", 2
    )

    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


async def test_metrics_export_a_cpu_counter_per_pod_with_cadvisor_labels(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.cluster.set_load("demo", "web", cores=1.5)
    sandbox.cluster.advance(10.0)

    with anyio.fail_after(5):
        async with http.get(sandbox.url + "/metrics") as response:
            text = await response.text()

    samples = [
        line for line in text.splitlines() if line.startswith("container_cpu_usage_seconds_total{")
    ]
    web = [line for line in samples if 'namespace="demo",pod="web-' in line]
    assert "# TYPE container_cpu_usage_seconds_total counter" in text
    assert len(samples) == 5 and len(web) == 3
    assert all('container="app"' in line for line in samples)
    assert [float(line.rsplit(" ", 1)[1]) for line in web] == pytest.approx([5.0] * 3)


async def test_control_endpoint_sets_load_and_reports_state(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    status, answer = await sandbox_request(
        sandbox,
        "POST",
        "/sim/v1/load",
        {"namespace": "demo", "name": "web", "phase": "spike"},
    )
    bad_status, bad = await sandbox_request(
        sandbox,
        "POST",
        "/sim/v1/load",
        {"namespace": "demo", "name": "web", "phase": "party"},
    )
    _, state = await sandbox_request(sandbox, "GET", "/sim/v1/state")

    web = next(w for w in state["workloads"] if w["name"] == "web")
    assert status == 200 and answer["demand_cores"] == pytest.approx(4.0)
    assert bad_status == 400 and "party" in bad["error"]
    assert web["phase"] == "spike" and len(web["pods"]) == 3


async def test_requests_without_the_bearer_token_are_401(
    start_sandbox: StartSandbox, sandbox_request: SandboxRequest
) -> None:
    sandbox = await start_sandbox(options=SimOptions(token="s3cret"))

    status, body = await sandbox_request(sandbox, "GET", DEPLOYMENTS)
    ok, _ = await sandbox_request(
        sandbox, "GET", DEPLOYMENTS, headers={"Authorization": "Bearer s3cret"}
    )

    assert status == 401 and body["reason"] == "Unauthorized"
    assert ok == 200


async def test_product_role_is_403_outside_its_rules(
    start_sandbox: StartSandbox, sandbox_request: SandboxRequest
) -> None:
    sandbox = await start_sandbox(options=SimOptions(rbac="product"))

    allowed = [
        await sandbox_request(sandbox, "GET", path)
        for path in (
            DEPLOYMENTS,
            f"{DEPLOYMENTS}/web/scale",
            "/api/v1/namespaces/demo/pods",
            "/apis",
            "/version",
        )
    ]
    denied = [
        await sandbox_request(sandbox, method, path, body, ctype)
        for method, path, body, ctype in (
            ("DELETE", f"{DEPLOYMENTS}/web", None, "application/json"),
            ("PUT", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 1}}, "application/json"),
            (
                "PATCH",
                f"{DEPLOYMENTS}/web",
                {"spec": {"replicas": 1}},
                "application/merge-patch+json",
            ),
            ("GET", "/api/v1/namespaces", None, "application/json"),
            ("GET", "/api/v1/namespaces/demo/secrets", None, "application/json"),
        )
    ]

    assert [status for status, _ in allowed] == [200] * 5
    assert [status for status, _ in denied] == [403] * 5
    assert all(body["reason"] == "Forbidden" for _, body in denied)
    assert 'cannot delete resource "deployments" in API group "apps"' in denied[0][1]["message"]
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 3


async def test_tables_are_served_to_clients_that_ask_for_them(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

    _, body = await sandbox_request(sandbox, "GET", DEPLOYMENTS, headers={"Accept": accept})

    assert body["kind"] == "Table"
    assert [c["name"] for c in body["columnDefinitions"]][:2] == ["Name", "Ready"]
    assert [row["cells"][:2] for row in body["rows"]] == [["api", "2/2"], ["web", "3/3"]]
