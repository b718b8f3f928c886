"""The sandbox serves ``coordination.k8s.io/v1`` Leases as the API server does: create, get,
update with the resourceVersion as a precondition (409 when stale), list and watch; and the
product's role may only get, create and update them in claudescale's own namespace."""

from __future__ import annotations

from typing import Any

import anyio

from claudescale.sim import SimConfig, SimOptions
from claudescale.testing.sandbox import SandboxRequest, StartSandbox

LEASES = "/apis/coordination.k8s.io/v1/namespaces/claudescale/leases"


def _lease(holder: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "claudescale"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
    }


def _config() -> SimConfig:
    return SimConfig.model_validate({"namespaces": ["demo", "claudescale"]})


async def test_a_lease_update_with_a_stale_resource_version_is_a_409_conflict(
    start_sandbox: StartSandbox, sandbox_request: SandboxRequest
) -> None:
    sandbox = await start_sandbox(_config())

    created_status, created = await sandbox_request(sandbox, "POST", LEASES, _lease("a"))
    again_status, again = await sandbox_request(sandbox, "POST", LEASES, _lease("b"))
    read_rv = created["metadata"]["resourceVersion"]
    taken = {**created, "spec": {**created["spec"], "holderIdentity": "b"}}
    update_status, updated = await sandbox_request(sandbox, "PUT", f"{LEASES}/claudescale", taken)
    stale = {**created, "spec": {**created["spec"], "holderIdentity": "c"}}
    stale_status, refused = await sandbox_request(sandbox, "PUT", f"{LEASES}/claudescale", stale)
    _, current = await sandbox_request(sandbox, "GET", f"{LEASES}/claudescale")

    assert (created_status, again_status) == (201, 409)
    assert again["reason"] == "AlreadyExists"
    assert update_status == 200 and updated["metadata"]["resourceVersion"] != read_rv
    assert (stale_status, refused["reason"]) == (409, "Conflict")
    assert current["spec"]["holderIdentity"] == "b"
    assert current["metadata"]["uid"] == created["metadata"]["uid"]


async def test_leases_are_listed_and_watched_and_shown_in_discovery(
    start_sandbox: StartSandbox, sandbox_request: SandboxRequest
) -> None:
    sandbox = await start_sandbox(_config())
    _, created = await sandbox_request(sandbox, "POST", LEASES, _lease("a"))
    rv = created["metadata"]["resourceVersion"]

    _, listing = await sandbox_request(sandbox, "GET", LEASES)
    _, group = await sandbox_request(sandbox, "GET", "/apis/coordination.k8s.io/v1")
    async with anyio.create_task_group() as tg:
        seen: list[Any] = []

        async def watch() -> None:
            _, answer = await sandbox_request(
                sandbox, "GET", f"{LEASES}?watch=true&resourceVersion={rv}&timeoutSeconds=1"
            )
            # One event line parses as one JSON object; several stay raw bytes.
            seen.extend([answer] if isinstance(answer, dict) else answer.splitlines())

        tg.start_soon(watch)
        await sandbox.wait_for_watches(1)
        renewed = {**created, "spec": {**created["spec"], "renewTime": "2026-01-01T00:00:00Z"}}
        await sandbox_request(sandbox, "PUT", f"{LEASES}/claudescale", renewed)

    assert [item["spec"]["holderIdentity"] for item in listing["items"]] == ["a"]
    assert listing["kind"] == "LeaseList"
    assert {r["name"]: r["kind"] for r in group["resources"]} == {"leases": "Lease"}
    assert len(seen) == 1 and seen[0]["type"] == "MODIFIED"
    assert seen[0]["object"]["spec"]["renewTime"] == "2026-01-01T00:00:00Z"


async def test_the_product_role_may_get_create_and_update_leases_only_in_its_namespace(
    start_sandbox: StartSandbox, sandbox_request: SandboxRequest
) -> None:
    sandbox = await start_sandbox(_config(), SimOptions(rbac="product", rbac_namespaces=("demo",)))
    demo_leases = "/apis/coordination.k8s.io/v1/namespaces/demo/leases"

    created, _ = await sandbox_request(sandbox, "POST", LEASES, _lease("a"))
    read, lease = await sandbox_request(sandbox, "GET", f"{LEASES}/claudescale")
    updated, _ = await sandbox_request(sandbox, "PUT", f"{LEASES}/claudescale", lease)
    listed, _ = await sandbox_request(sandbox, "GET", LEASES)
    deleted, _ = await sandbox_request(sandbox, "DELETE", f"{LEASES}/claudescale")
    elsewhere, refusal = await sandbox_request(sandbox, "POST", demo_leases, _lease("a"))

    assert (created, read, updated) == (201, 200, 200)
    assert (listed, deleted, elsewhere) == (403, 403, 403)
    assert (
        'cannot create resource "leases" in API group "coordination.k8s.io"' in (refusal["message"])
    )
