"""The sandbox stores Events once and serves them as core ``v1`` and ``events.k8s.io/v1``:
create (with ``generateName``), patch, get and list by the field selectors ``kubectl
describe`` uses; the product's role may create and patch them, not read them."""

from __future__ import annotations

from typing import Any

from claudescale.sim import Sandbox, SimOptions
from claudescale.testing.sandbox import SandboxRequest, StartSandbox

CORE = "/api/v1/namespaces/demo/events"
GROUP = "/apis/events.k8s.io/v1/namespaces/demo/events"


def _event(name: str, deployment: str, uid: str, reason: str = "ScaledUp") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "demo"},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment,
            "namespace": "demo",
            "uid": uid,
        },
        "type": "Normal",
        "reason": reason,
        "message": f"Scaled demo/{deployment} 3→4: cpu 85% of requests",
        "source": {"component": "claudescale"},
        "count": 1,
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }


def _uid(sandbox: Sandbox, name: str) -> str:
    return str(sandbox.cluster.deployment("demo", name)["metadata"]["uid"])


async def test_events_are_found_by_involved_object_as_kubectl_describe_asks(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    web, api = _uid(sandbox, "web"), _uid(sandbox, "api")
    await sandbox_request(sandbox, "POST", CORE, _event("web.1", "web", web))
    await sandbox_request(sandbox, "POST", CORE, _event("api.1", "api", api))
    await sandbox_request(sandbox, "POST", CORE, _event("web.old", "web", "an-older-uid"))
    selector = (
        "involvedObject.name=web,involvedObject.namespace=demo,"
        f"involvedObject.kind=Deployment,involvedObject.uid={web}"
    )

    status, found = await sandbox_request(sandbox, "GET", f"{CORE}?fieldSelector={selector}")
    _, warnings = await sandbox_request(sandbox, "GET", f"{CORE}?fieldSelector=type=Warning")
    bad_status, bad = await sandbox_request(sandbox, "GET", f"{CORE}?fieldSelector=spec.x=1")

    assert status == 200 and found["kind"] == "EventList"
    assert [e["metadata"]["name"] for e in found["items"]] == ["web.1"]
    assert warnings["items"] == []
    assert bad_status == 400 and "involvedObject.name" in bad["message"]


async def test_a_patch_raises_the_count_and_both_groups_show_the_same_event(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    created_status, _ = await sandbox_request(
        sandbox, "POST", CORE, _event("web.1", "web", _uid(sandbox, "web"))
    )
    patch = {"count": 3, "lastTimestamp": "2026-01-01T00:05:00Z"}
    patched_status, patched = await sandbox_request(
        sandbox, "PATCH", f"{CORE}/web.1", patch, "application/strategic-merge-patch+json"
    )
    _, seen = await sandbox_request(sandbox, "GET", f"{GROUP}/web.1")
    _, by_regarding = await sandbox_request(
        sandbox, "GET", f"{GROUP}?fieldSelector=regarding.name=web"
    )

    assert (created_status, patched_status) == (201, 200)
    assert (patched["count"], patched["lastTimestamp"]) == (3, "2026-01-01T00:05:00Z")
    assert seen["apiVersion"] == "events.k8s.io/v1"
    assert seen["regarding"]["name"] == "web" and seen["deprecatedCount"] == 3
    assert seen["note"] == "Scaled demo/web 3→4: cpu 85% of requests"
    assert "involvedObject" not in seen and "message" not in seen
    assert [e["metadata"]["name"] for e in by_regarding["items"]] == ["web.1"]


async def test_an_event_made_through_events_k8s_io_is_listed_as_a_core_event(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    new_style = {
        "metadata": {"generateName": "web."},
        "regarding": {"kind": "Deployment", "name": "web", "namespace": "demo"},
        "type": "Warning",
        "reason": "RefusedRescale",
        "note": "Refused scaling demo/web 3→6: above the maximum of 5.",
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "claudescale",
        "reportingInstance": "pod-a",
        "action": "Scale",
    }

    status, created = await sandbox_request(sandbox, "POST", GROUP, new_style)
    _, core = await sandbox_request(sandbox, "GET", CORE)

    assert status == 201 and created["metadata"]["name"].startswith("web.")
    [event] = core["items"]
    assert event["apiVersion"] == "v1" and event["involvedObject"]["name"] == "web"
    assert event["message"] == new_style["note"]
    assert event["reportingComponent"] == "claudescale"


async def test_the_product_role_may_create_and_patch_events_but_not_read_them(
    start_sandbox: StartSandbox, sandbox_request: SandboxRequest
) -> None:
    sandbox = await start_sandbox(options=SimOptions(rbac="product"))
    body = _event("web.1", "web", _uid(sandbox, "web"))

    created, _ = await sandbox_request(sandbox, "POST", CORE, body)
    patched, _ = await sandbox_request(
        sandbox, "PATCH", f"{CORE}/web.1", {"count": 2}, "application/merge-patch+json"
    )
    listed, _ = await sandbox_request(sandbox, "GET", CORE)
    grouped, _ = await sandbox_request(sandbox, "POST", GROUP, {"metadata": {"name": "x"}})

    assert (created, patched) == (201, 200)
    assert (listed, grouped) == (403, 403)


async def test_a_watch_through_events_k8s_io_streams_the_new_shape(
    sandbox: Sandbox, sandbox_request: SandboxRequest
) -> None:
    rv = sandbox.cluster.store.resource_version
    await sandbox_request(sandbox, "POST", CORE, _event("web.1", "web", _uid(sandbox, "web")))

    _, answer = await sandbox_request(
        sandbox, "GET", f"{GROUP}?watch=true&resourceVersion={rv}&timeoutSeconds=0.1"
    )

    assert answer["type"] == "ADDED"
    assert answer["object"]["regarding"]["name"] == "web"
    assert answer["object"]["apiVersion"] == "events.k8s.io/v1"
