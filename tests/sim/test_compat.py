"""Clients nobody here wrote: the official synchronous ``kubernetes`` client and Debian's
kubectl (package kubernetes-client, fetched by scripts/fetch-kubectl.sh into .cache/, never a
kubectl found on PATH) against the sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import kubernetes

from claudescale.sim import Sandbox, SimOptions, write_kubeconfig
from claudescale.testing.sandbox import StartSandbox


def _sync_client_session(kubeconfig: Path) -> dict[str, Any]:
    """List deployments, scale web to 4 (and once with a stale resourceVersion), list pods."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as api:
        apps, core = kubernetes.client.AppsV1Api(api), kubernetes.client.CoreV1Api(api)
        names = [d.metadata.name for d in apps.list_namespaced_deployment("demo").items]
        scale = apps.read_namespaced_deployment_scale("web", "demo")
        patched = apps.patch_namespaced_deployment_scale(
            "web",
            "demo",
            {
                "metadata": {"resourceVersion": scale.metadata.resource_version},
                "spec": {"replicas": 4},
            },
        )
        try:
            apps.patch_namespaced_deployment_scale(
                "web",
                "demo",
                {
                    "metadata": {"resourceVersion": scale.metadata.resource_version},
                    "spec": {"replicas": 5},
                },
            )
            stale_status = 200
        except kubernetes.client.exceptions.ApiException as exc:
            stale_status = exc.status
        pods = core.list_namespaced_pod("demo", label_selector="app=web").items
    return {
        "names": names,
        "replicas": patched.spec.replicas,
        "stale": stale_status,
        "pods": len(pods),
    }


async def test_official_sync_client_lists_scales_and_lists_pods(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = await start_sandbox(options=SimOptions(token="t0ken", rbac="product"))
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", sandbox.url, "t0ken")

    with anyio.fail_after(30):
        seen = await anyio.to_thread.run_sync(_sync_client_session, kubeconfig)

    assert seen == {"names": ["api", "web"], "replicas": 4, "stale": 409, "pods": 4}
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 4


async def _kubectl(kubectl: Path, sandbox: Sandbox, home: Path, *args: str) -> tuple[int, str]:
    kubeconfig = write_kubeconfig(home / "kubeconfig", sandbox.url)
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": ""}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [str(kubectl), "--kubeconfig", str(kubeconfig), *args], env=env, check=False
        )
    return done.returncode, (done.stdout + done.stderr).decode()


async def test_debian_kubectl_gets_scales_and_lists_pods(
    kubectl: Path, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    # kubectl (client-go) sends credentials only over TLS, so this sandbox has no token;
    # it still runs with the product's role, which kubectl's calls must fit in.
    sandbox = await start_sandbox(options=SimOptions(rbac="product"))

    got_status, got = await _kubectl(kubectl, sandbox, tmp_path, "get", "deployments", "-n", "demo")
    scale_status, scaled = await _kubectl(
        kubectl, sandbox, tmp_path, "scale", "deployment", "web", "--replicas=4", "-n", "demo"
    )
    pods_status, pods = await _kubectl(kubectl, sandbox, tmp_path, "get", "pods", "-n", "demo")
    delete_status, delete = await _kubectl(
        kubectl, sandbox, tmp_path, "delete", "deployment", "api", "-n", "demo"
    )

    assert (got_status, scale_status, pods_status) == (0, 0, 0), got + scaled + pods
    assert [line.split()[:2] for line in got.splitlines()] == [
        ["NAME", "READY"],
        ["api", "2/2"],
        ["web", "3/3"],
    ]
    assert "deployment.apps/web scaled" in scaled
    assert sandbox.cluster.deployment("demo", "web")["spec"]["replicas"] == 4
    rows = [line.split() for line in pods.splitlines()[1:]]
    assert sum(row[0].startswith("web-") for row in rows) == 4
    assert sorted(row[2] for row in rows) == ["ContainerCreating"] + ["Running"] * 5
    assert delete_status != 0 and "forbidden" in delete.lower()
    assert sandbox.cluster.deployment("demo", "api")["spec"]["replicas"] == 2
