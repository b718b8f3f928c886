"""Cooldowns anchored in the cluster: our scale writes carry our own field manager, the
sandbox records ``managedFields`` for the scale subresource as the API server does, the
adapter reads that time back, and a restart without the log still waits out the cooldowns."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import aiohttp
import anyio

from claudescale.adapters.kubernetes.convert import workload_state
from claudescale.core.values import Code, WorkloadRef
from claudescale.sim import Sandbox
from claudescale.testing.harness import REF, Harness, up
from claudescale.testing.sandbox import ConnectCluster

WEB = WorkloadRef("demo", "web")


def deployment(managed_fields: list[dict[str, object]]) -> dict[str, object]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "demo",
            "resourceVersion": "7",
            "managedFields": managed_fields,
        },
        "spec": {"replicas": 3},
    }


def entry(manager: str, subresource: str | None, at: str) -> dict[str, object]:
    fields: dict[str, object] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": at,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    if subresource is not None:
        fields["subresource"] = subresource
    return fields


def test_the_converter_reads_our_managers_scale_time_only() -> None:
    state = workload_state(
        deployment(
            [
                entry("kubectl", "scale", "2026-05-01T12:00:09Z"),
                entry("claudescale", None, "2026-05-01T12:00:08Z"),
                entry("claudescale", "scale", "2026-05-01T12:00:05Z"),
            ]
        ),
        namespaces=("demo",),
        opt_in_label="claudescale.io/enabled",
    )

    assert state.last_scaled_by_us_at_wall == calendar.timegm(
        time.strptime("2026-05-01T12:00:05", "%Y-%m-%dT%H:%M:%S")
    )


def test_a_deployment_we_never_scaled_has_no_time() -> None:
    state = workload_state(
        deployment([entry("kubectl", "scale", "2026-05-01T12:00:09Z")]),
        namespaces=("demo",),
        opt_in_label="claudescale.io/enabled",
    )

    assert state.last_scaled_by_us_at_wall is None


async def test_the_sandbox_records_our_scale_write_in_managed_fields(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    before = await cluster.read_workload(WEB)

    await cluster.scale(WEB, 4, before.resource_version)
    after = await cluster.read_workload(WEB)

    (ours,) = [
        e
        for e in sandbox.cluster.deployment("demo", "web")["metadata"]["managedFields"]
        if e["manager"] == "claudescale"
    ]
    assert ours["subresource"] == "scale" and ours["operation"] == "Update"
    assert (ours["apiVersion"], ours["fieldsType"]) == ("apps/v1", "FieldsV1")
    assert ours["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert ours["time"].endswith("Z") and len(ours["time"]) == 20
    wall = sandbox.cluster.clock.wall()
    assert after.last_scaled_by_us_at_wall is not None
    assert wall - 1 < after.last_scaled_by_us_at_wall <= wall


async def test_someone_elses_scale_takes_the_replicas_over_from_our_manager(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    state = await cluster.read_workload(WEB)
    await cluster.scale(WEB, 4, state.resource_version)

    sandbox.cluster.set_replicas("demo", "web", 5)

    assert (await cluster.read_workload(WEB)).last_scaled_by_us_at_wall is None


async def test_losing_the_log_and_its_checkpoint_does_not_free_a_scale_up(
    tmp_path: Path,
) -> None:
    h = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0)
    async with h.running():
        assert (await h.submit(up(4, 3))).code is Code.OK
    h.clock.advance(10)
    h.audit_path.unlink()
    h.audit_path.with_name(h.audit_path.name + ".checkpoint").unlink()

    async with h.running():
        early = await h.submit(up(5, 4))
        h.clock.advance(81)
        on_time = await h.submit(up(5, 4))

    assert (early.code, on_time.code) == (Code.COOLDOWN_UP, Code.OK)
    assert [r["workload"] for r in h.records("cooldown_anchored")] == [str(REF)]


async def test_a_scale_without_a_field_manager_is_recorded_under_its_user_agent(
    sandbox: Sandbox,
) -> None:
    path = "/apis/apps/v1/namespaces/demo/deployments/web/scale"
    headers = {
        "Content-Type": "application/merge-patch+json",
        "User-Agent": "kubectl/v1.30.0 (linux/amd64)",
    }
    if sandbox.options.token is not None:
        headers["Authorization"] = f"Bearer {sandbox.options.token}"
    async with aiohttp.ClientSession() as http:
        with anyio.fail_after(5):
            async with http.patch(
                sandbox.url + path, data=b'{"spec":{"replicas":4}}', headers=headers
            ) as response:
                assert response.status == 200

    entries = sandbox.cluster.deployment("demo", "web")["metadata"]["managedFields"]
    assert [(e["manager"], e["subresource"]) for e in entries] == [("kubectl", "scale")]
