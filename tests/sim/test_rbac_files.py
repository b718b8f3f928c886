"""The sandbox enforcing the Roles in manifests/ as written (``claudescale sim --rbac-from``).

The demo's story (the real Kubernetes adapter, executor and loop on a manual clock) and the
whole service on the real clock (with Prometheus) run under the manifests' Roles and
RoleBindings: nothing they do is refused, and they scale. Writes the Role does not grant are
refused with the API server's 403, and the rule matching follows Kubernetes RBAC.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.adapters.system_clock import SystemClock
from claudescale.cli.main import main
from claudescale.errors import ConfigError
from claudescale.sim import Sandbox, SimOptions
from claudescale.sim.rbac_files import RolePolicy, load_role_files
from claudescale.sim.resources import parse_path
from claudescale.testing.harness import read_records
from claudescale.testing.prometheus import PrometheusHarness
from claudescale.testing.sandbox import (
    ConnectCluster,
    PlayDemoStory,
    StartSandbox,
    has_rates_for,
    loop_settings,
    replicas,
    running_service,
    sandbox_config,
    sandbox_cpu_query,
    wait_until,
)

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
RBAC_FILES = tuple(
    MANIFESTS / name
    for name in (
        "role.yaml",
        "rolebinding.yaml",
        "leader-election-role.yaml",
        "leader-election-rolebinding.yaml",
    )
)
DEPLOYMENTS = "/apis/apps/v1/namespaces/demo/deployments"


@pytest.fixture
def policy() -> RolePolicy:
    return load_role_files(RBAC_FILES)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession, sandbox: Sandbox, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
    data = None if body is None else orjson.dumps(body)
    with anyio.fail_after(5):
        async with http.request(
            method, sandbox.url + path, data=data, headers={"Content-Type": content_type}
        ) as response:
            return response.status, await response.json(content_type=None)


def allows(policy: RolePolicy, method: str, path: str) -> bool:
    info = parse_path(path)
    return policy.allows(info, info.verb(method, watch=False))


def test_the_manifests_roles_grant_what_they_say_where_they_say_it(policy: RolePolicy) -> None:
    assert allows(policy, "GET", DEPLOYMENTS)
    assert allows(policy, "PATCH", f"{DEPLOYMENTS}/web/scale")
    assert allows(policy, "POST", "/api/v1/namespaces/demo/events")
    assert allows(policy, "PUT", "/apis/coordination.k8s.io/v1/namespaces/claudescale/leases/x")
    assert policy.refusals == []
    # Not the deployment itself, not another namespace, not the cluster scope, not secrets.
    assert not allows(policy, "PATCH", f"{DEPLOYMENTS}/web")
    assert not allows(policy, "PUT", f"{DEPLOYMENTS}/web/scale")
    assert not allows(policy, "PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale")
    assert not allows(policy, "GET", "/apis/apps/v1/deployments")
    assert not allows(policy, "DELETE", "/api/v1/namespaces/demo/pods/web-1")
    assert not allows(policy, "GET", "/api/v1/namespaces/demo/secrets")
    assert not allows(policy, "PUT", "/apis/coordination.k8s.io/v1/namespaces/demo/leases/x")
    assert not allows(
        policy, "DELETE", "/apis/coordination.k8s.io/v1/namespaces/claudescale/leases/x"
    )
    assert len(policy.refusals) == 8


def test_rules_match_like_kubernetes_rbac(tmp_path: Path) -> None:
    role = tmp_path / "role.yaml"
    role.write_text(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: demo}
rules:
  - {apiGroups: ["apps"], resources: ["deployments/*"], verbs: ["get"]}
  - {apiGroups: ["*"], resources: ["pods"], verbs: ["*"], resourceNames: ["web-1"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: c}
rules:
  - {apiGroups: [""], resources: ["namespaces"], verbs: ["list"]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ignored, namespace: demo}
""",
        encoding="utf-8",
    )
    policy = load_role_files([role])
    assert allows(policy, "GET", f"{DEPLOYMENTS}/web/scale")
    assert allows(policy, "GET", f"{DEPLOYMENTS}/web/status")
    assert not allows(policy, "GET", f"{DEPLOYMENTS}/web"), "a subresource rule is not the object"
    assert allows(policy, "DELETE", "/api/v1/namespaces/demo/pods/web-1")
    assert not allows(policy, "DELETE", "/api/v1/namespaces/demo/pods/web-2")
    assert not allows(policy, "GET", "/api/v1/namespaces/demo/pods"), "a list has no name"
    assert allows(policy, "GET", "/api/v1/namespaces")
    # Bound to someone else: with bindings present, only claudescale's count.
    binding = tmp_path / "binding.yaml"
    binding.write_text(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: demo}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: claudescale}]
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="no Role"):
        load_role_files([binding])
    assert load_role_files([role, binding]).grants == ()


async def test_a_write_outside_the_role_is_refused_with_403(
    start_sandbox: StartSandbox, http: aiohttp.ClientSession, policy: RolePolicy
) -> None:
    sandbox = await start_sandbox(options=SimOptions(rbac=policy))
    pod = sandbox.cluster.pods_of("demo", "web")[0]["metadata"]["name"]

    scaled = await send(
        http, sandbox, "PATCH", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 4}}
    )
    patched = await send(http, sandbox, "PATCH", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 9}})
    deleted = await send(http, sandbox, "DELETE", f"/api/v1/namespaces/demo/pods/{pod}")

    assert scaled[0] == 200
    assert patched[0] == deleted[0] == 403
    assert patched[1]["reason"] == "Forbidden"
    assert 'cannot patch resource "deployments" in API group "apps"' in patched[1]["message"]
    assert 'cannot delete resource "pods"' in deleted[1]["message"]
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 4
    assert [verb for verb, _ in policy.refusals] == ["patch", "delete"]


async def test_the_demo_story_under_the_manifests_roles_scales_with_no_403(
    play_demo_story: PlayDemoStory, policy: RolePolicy
) -> None:
    harness = await play_demo_story(120.0, SimOptions(rbac=policy))

    assert policy.refusals == []
    moves = [(r["from"], r["to"]) for r in harness.records("outcome") if r["code"] == "ok"]
    assert (3, 4) in moves and (4, 3) in moves, moves  # up with the load, down after it
    assert all(r["code"] == "ok" for r in harness.records("outcome")), "a write failed"


@pytest.mark.prometheus
@pytest.mark.slow
async def test_the_service_under_the_manifests_roles_scales_up_and_down_with_no_403(
    prometheus: PrometheusHarness,
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    policy: RolePolicy,
    tmp_path: Path,
) -> None:
    config = sandbox_config(namespaces=["demo", "claudescale"])
    sandbox = await start_sandbox(config, SimOptions(rbac=policy), clock=SystemClock())
    audit_path = tmp_path / "audit.jsonl"
    with prometheus.scraping(f"127.0.0.1:{sandbox.port}"):
        await anyio.to_thread.run_sync(
            lambda: prometheus.wait_for(sandbox_cpu_query(), has_rates_for(3))
        )
        cluster = await connect_cluster(sandbox, clock=SystemClock())
        settings = loop_settings(prometheus.url, audit_path)
        metrics = PrometheusMetrics(settings.prometheus, SystemClock())
        async with running_service(settings, cluster, metrics):
            sandbox.cluster.set_load("demo", "web", phase="ramp")
            await wait_until(lambda: replicas(sandbox) >= 4, 30, "a scale-up under the Role")
            sandbox.cluster.set_load("demo", "web", phase="drain")
            await wait_until(lambda: replicas(sandbox) == 3, 45, "the scale-down back to 3")

    assert policy.refusals == []
    outcomes = read_records(audit_path, "outcome", workload="demo/web")
    assert outcomes and all(r["code"] == "ok" for r in outcomes), outcomes


async def test_the_sim_command_enforces_the_roles_it_is_given(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "claudescale.sim", "--port", "0"]
    command += ["--kubeconfig", str(kubeconfig), "--rbac-from", str(MANIFESTS)]
    output = b""
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None
        with anyio.fail_after(20):
            async for chunk in process.stdout:
                output += chunk
                if b"Press Ctrl-C" in output:
                    break
        url = re.search(rb"sandbox on (http://127\.0\.0\.1:\d+)", output)
        assert url is not None, output
        base = url.group(1).decode() + DEPLOYMENTS
        with anyio.fail_after(10):
            async with http.get(base) as listed:
                listed_status = listed.status
            body = orjson.dumps({"spec": {"paused": True}})
            headers = {"Content-Type": "application/merge-patch+json"}
            async with http.patch(f"{base}/web", data=body, headers=headers) as patched:
                patched_status = patched.status
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            await process.wait()
    assert (listed_status, patched_status) == (200, 403)


def test_the_sim_command_refuses_rbac_files_without_a_role_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n")
    status = main(["sim", "--rbac-from", str(empty), "--kubeconfig", str(tmp_path / "kc")])
    assert status == 2
    assert "no Role" in capsys.readouterr().err
