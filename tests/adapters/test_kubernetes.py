"""The Kubernetes adapter against the sandbox over real HTTP: discovery, reads and scaling."""

from __future__ import annotations

import pytest

from claudescale.core.values import WorkloadRef
from claudescale.errors import Conflict, NotFound
from claudescale.sim import Sandbox, SimConfig
from claudescale.testing.sandbox import ConnectCluster, StartSandbox

WEB = WorkloadRef("demo", "web")
API = WorkloadRef("demo", "api")


async def test_list_workloads_returns_opted_in_deployments_of_configured_namespaces(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    sandbox.cluster.create_deployment("demo", "worker", 2, enabled=False)
    sandbox.cluster.create_deployment("other", "shop", 2)
    cluster = await connect_cluster(sandbox)

    states = await cluster.list_workloads()

    assert sorted(str(s.ref) for s in states) == ["demo/api", "demo/web"]
    web = next(s for s in states if s.ref == WEB)
    assert (web.replicas, web.ready_replicas, len(web.pods), web.managed) == (3, 3, 3, True)
    assert (
        web.resource_version
        == sandbox.cluster.deployment("demo", "web")["metadata"]["resourceVersion"]
    )


async def test_read_workload_fills_scale_deployment_and_pods(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)

    state = await cluster.read_workload(WEB)

    deployment = sandbox.cluster.deployment("demo", "web")
    assert state.uid == deployment["metadata"]["uid"]
    assert state.resource_version == deployment["metadata"]["resourceVersion"]
    assert (state.replicas, state.ready_replicas, state.selector) == (3, 3, "app=web")
    assert not state.rollout_in_progress and not state.paused and state.owner is None
    assert [p.cpu_request_cores for p in state.pods] == [0.25, 0.25, 0.25]
    assert all(p.ready and not p.terminating for p in state.pods)
    assert all(p.start_time_unix_s is not None for p in state.pods)


async def test_scale_writes_replicas_and_returns_the_new_resource_version(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    before = await cluster.read_workload(WEB)

    new_version = await cluster.scale(WEB, 4, before.resource_version)

    assert int(new_version) > int(before.resource_version)
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 4


async def test_scale_after_a_concurrent_change_is_a_conflict_and_changes_nothing(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    before = await cluster.read_workload(WEB)
    sandbox.cluster.set_replicas("demo", "web", 5)

    with pytest.raises(Conflict, match="demo/web"):
        await cluster.scale(WEB, 4, before.resource_version)

    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 5


async def test_scale_of_a_deployment_deleted_mid_action_is_not_found(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    before = await cluster.read_workload(WEB)
    sandbox.cluster.delete_deployment("demo", "web")

    with pytest.raises(NotFound, match="demo/web"):
        await cluster.scale(WEB, 4, before.resource_version)
    with pytest.raises(NotFound):
        await cluster.read_workload(WEB)


async def test_pause_annotation_and_zero_replicas_both_mark_a_workload_paused(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    sandbox.cluster.set_annotations("demo", "web", {"claudescale.io/paused": "true"})
    sandbox.cluster.set_replicas("demo", "api", 0)

    web, api = await cluster.read_workload(WEB), await cluster.read_workload(API)
    sandbox.cluster.set_annotations("demo", "web", {"claudescale.io/paused": None})
    resumed = await cluster.read_workload(WEB)

    assert web.paused and api.paused and not resumed.paused


async def test_guardrail_overrides_come_from_claudescale_annotations(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    sandbox.cluster.set_annotations(
        "demo",
        "web",
        {
            "claudescale.io/max-replicas": "8",
            "claudescale.io/paused": "false",
            "example.com/other": "x",
        },
    )

    state = await cluster.read_workload(WEB)

    assert state.overrides == (("max_replicas", "8"),)


async def test_an_hpa_targeting_the_deployment_is_its_owner(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    sandbox.cluster.create_hpa("demo", "web-hpa", target="web")
    cluster = await connect_cluster(sandbox)

    web, api = await cluster.read_workload(WEB), await cluster.read_workload(API)
    listed = {s.ref: s.owner for s in await cluster.list_workloads()}

    assert web.owner == "HorizontalPodAutoscaler/web-hpa" and api.owner is None
    assert listed == {WEB: "HorizontalPodAutoscaler/web-hpa", API: None}


async def test_a_keda_scaled_object_is_an_owner_when_the_crd_exists(
    start_sandbox: StartSandbox, connect_cluster: ConnectCluster
) -> None:
    sandbox = await start_sandbox(SimConfig(keda=True))
    sandbox.cluster.create_scaled_object("demo", "api-so", target="api")
    cluster = await connect_cluster(sandbox)

    api, web = await cluster.read_workload(API), await cluster.read_workload(WEB)

    assert api.owner == "ScaledObject/api-so" and web.owner is None


async def test_pods_report_readiness_termination_and_start_up(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    cluster = await connect_cluster(sandbox)
    sandbox.cluster.set_replicas("demo", "api", 1)
    sandbox.cluster.set_replicas("demo", "web", 4)

    api, web = await cluster.read_workload(API), await cluster.read_workload(WEB)
    sandbox.cluster.advance(5.0)
    later = await cluster.read_workload(WEB)

    assert sorted((p.ready, p.terminating) for p in api.pods) == [(False, True), (True, False)]
    assert len(api.ready_pods) == 1
    assert len(web.unready_pods) == 1 and web.rollout_in_progress
    assert len(later.ready_pods) == 4 and not later.rollout_in_progress


async def test_a_container_without_a_cpu_request_gives_no_request_for_the_pod(
    sandbox: Sandbox, connect_cluster: ConnectCluster
) -> None:
    sandbox.cluster.create_deployment("demo", "batch", 2, cpu_request=None, pods_ready=True)
    cluster = await connect_cluster(sandbox)

    state = await cluster.read_workload(WorkloadRef("demo", "batch"))

    assert [p.cpu_request_cores for p in state.pods] == [None, None]
