"""The manifests: schema-valid, complete kustomizations, exactly the product's Role, a hardened
Deployment whose settings pass ``claudescale config check``, and no credentials shipped.

Schemas: every object is checked with kubernetes-validate in strict mode (unknown fields are
errors) against Kubernetes 1.37. The Prometheus Operator's ``PodMonitor`` and
``PrometheusRule`` are custom resources with no schema there: they are skipped for schema
validation by kind (``CUSTOM_KINDS``), and checked by hand below and in test_alert_rules.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from claudescale.assistant.serving import options_for_run
from claudescale.config import parse_settings
from claudescale.errors import ConfigError
from claudescale.sim.rbac import PRODUCT_RULES

Docs = dict[Path, list[dict[str, Any]]]
KUBERNETES_VERSION = "1.37.0"
CUSTOM_KINDS = frozenset(
    {("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
)
KUSTOMIZATIONS = (
    "manifests",
    "manifests/monitoring",
    "manifests/prometheus-operator",
    "manifests/demo",
    "dashboards",
)

PRODUCT_GRANTS = frozenset(
    {
        ("apps", "deployments", "get"),
        ("apps", "deployments", "list"),
        ("apps", "deployments", "watch"),
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("autoscaling", "horizontalpodautoscalers", "get"),
        ("autoscaling", "horizontalpodautoscalers", "list"),
        ("autoscaling", "horizontalpodautoscalers", "watch"),
        ("keda.sh", "scaledobjects", "get"),
        ("keda.sh", "scaledobjects", "list"),
        ("keda.sh", "scaledobjects", "watch"),
        ("apps", "deployments/scale", "get"),
        ("apps", "deployments/scale", "patch"),
        ("", "events", "create"),
        ("", "events", "patch"),
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
)


def objects(docs: Docs, kind: str) -> list[dict[str, Any]]:
    return [doc for found in docs.values() for doc in found if doc["kind"] == kind]


def the(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    matching = [doc for doc in objects(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matching) == 1, f"expected one {kind} named {name}, found {len(matching)}"
    return matching[0]


def project_version(repo: Path) -> str:
    with (repo / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) a Role allows; names and wildcards are refused."""
    found = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"{rule} narrows or widens by name"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    found.add((group, resource, verb))
    return found


def claudescale_roles(docs: Docs) -> list[dict[str, Any]]:
    """The Roles bound to claudescale's ServiceAccount."""
    bound = {
        (binding["metadata"]["namespace"], binding["roleRef"]["name"])
        for binding in objects(docs, "RoleBinding") + objects(docs, "ClusterRoleBinding")
        for subject in binding["subjects"]
        if subject == {"kind": "ServiceAccount", "name": "claudescale", "namespace": "claudescale"}
    }
    roles = [
        r
        for r in objects(docs, "Role")
        if (r["metadata"]["namespace"], r["metadata"]["name"]) in bound
    ]
    assert len(roles) == len(bound), "claudescale is bound to a role that is not a namespaced Role"
    return roles


# -- schemas ------------------------------------------------------------------------------


def test_every_manifest_passes_strict_schema_validation(manifest_files: Docs) -> None:
    checked = skipped = 0
    for path, docs in manifest_files.items():
        for doc in docs:
            if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
                assert doc["metadata"]["name"] and doc["spec"], path
                skipped += 1
                continue
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")
            checked += 1
    assert checked >= 20 and skipped == len(CUSTOM_KINDS)


def test_the_kubernetes_validate_command_accepts_the_base_manifests(repo: Path) -> None:
    files = sorted(
        str(p) for p in (repo / "manifests").glob("*.yaml") if p.name != "kustomization.yaml"
    )
    command = [
        str(Path(sys.executable).parent / "kubernetes-validate"),
        "--strict",
        "--quiet",
        *files,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_manifest_with_an_unknown_field_is_refused() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "x", "namespace": "y"},
        "automountToken": True,
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


# -- kustomizations -----------------------------------------------------------------------


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_each_kustomization_lists_every_file_in_its_folder(repo: Path, folder: str) -> None:
    root = repo / folder
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = [entry for entry in kustomization.get("resources", []) if not entry.startswith("..")]
    for generator in kustomization.get("configMapGenerator", []):
        listed += generator.get("files", [])
    assert len(listed) == len(set(listed)), f"{folder}/kustomization.yaml lists a file twice"
    present = {p.name for p in root.iterdir() if p.is_file() and p.name != "kustomization.yaml"}
    assert set(listed) == present


def _render(kubectl: Path, repo: Path, folder: str, tmp_path: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` with Debian's kubectl, whose kustomize (2.0) only takes other
    kustomization directories under ``bases:``; newer ones take them under ``resources:``."""
    for part in ("manifests", "dashboards"):
        shutil.copytree(repo / part, tmp_path / part, dirs_exist_ok=True)
    for kustomization_path in tmp_path.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(kustomization_path.read_text(encoding="utf-8"))
        entries = kustomization.get("resources", [])
        dirs = [e for e in entries if (kustomization_path.parent / e).is_dir()]
        if dirs:
            kustomization["resources"] = [e for e in entries if e not in dirs]
            kustomization["bases"] = dirs
            kustomization_path.write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    result = subprocess.run(
        [str(kubectl), "kustomize", str(tmp_path / folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("folder", KUSTOMIZATIONS[:4])
def test_each_kustomization_builds_into_valid_objects(
    kubectl: Path, repo: Path, folder: str, tmp_path: Path
) -> None:
    rendered = _render(kubectl, repo, folder, tmp_path)
    for doc in rendered:
        if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = {doc["kind"] for doc in rendered}
    assert "Secret" not in kinds
    if folder == "manifests/monitoring":
        config_maps = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "ConfigMap"}
        dashboard = config_maps["grafana-dashboard-claudescale"]["data"]["claudescale.json"]
        assert dashboard == (repo / "dashboards" / "claudescale.json").read_text(encoding="utf-8")
        assert "alert-rules.yaml" in config_maps["prometheus-rules"]["data"]
    if folder == "manifests/prometheus-operator":
        assert kinds == {"PodMonitor", "PrometheusRule"}
    else:
        assert "Deployment" in kinds


# -- RBAC ---------------------------------------------------------------------------------


def test_claudescale_is_granted_exactly_the_product_role(manifest_files: Docs) -> None:
    roles = claudescale_roles(manifest_files)
    granted = set().union(*(grants(role) for role in roles))
    assert granted - PRODUCT_GRANTS == set(), (
        f"grants beyond the product role: {granted - PRODUCT_GRANTS}"
    )
    assert PRODUCT_GRANTS - granted == set(), f"missing grants: {PRODUCT_GRANTS - granted}"
    assert not any(
        s.get("name") == "claudescale"
        for b in objects(manifest_files, "ClusterRoleBinding")
        for s in b["subjects"]
    ), "claudescale must not hold any ClusterRole"


def test_the_role_check_fails_on_one_grant_too_many(manifest_files: Docs) -> None:
    role = the(manifest_files, "Role", "claudescale")
    widened = {
        **role,
        "rules": [*role["rules"], {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }
    assert grants(widened) - PRODUCT_GRANTS == {("", "secrets", "get")}
    with pytest.raises(AssertionError, match="wildcard"):
        grants({"rules": [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}]})


def test_the_workload_role_lives_in_every_managed_namespace(
    manifest_files: Docs, tmp_path: Path
) -> None:
    config = yaml.safe_load(
        the(manifest_files, "ConfigMap", "claudescale-config")["data"]["config.yaml"]
    )
    role_namespaces = {
        r["metadata"]["namespace"]
        for r in claudescale_roles(manifest_files)
        if ("apps", "deployments/scale", "patch") in grants(r)
    }
    assert role_namespaces == set(config["cluster"]["namespaces"])
    lease_roles = [
        r for r in claudescale_roles(manifest_files) if r["metadata"]["namespace"] == "claudescale"
    ]
    assert [grants(r) for r in lease_roles] == [
        {g for g in PRODUCT_GRANTS if g[0] == "coordination.k8s.io"}
    ]


# -- the Deployment -----------------------------------------------------------------------


def test_the_deployment_runs_hardened_with_probes_and_limits(
    manifest_files: Docs, repo: Path
) -> None:
    deployment = the(manifest_files, "Deployment", "claudescale")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == "claudescale"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["image"].endswith(f":{project_version(repo)}")
    assert [*container["command"], *container["args"]] == [
        "claudescale",
        "run",
        "--config",
        "/etc/claudescale/config.yaml",
    ]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_the_state_directory_and_the_audit_log_are_on_the_persistent_volume(
    manifest_files: Docs,
) -> None:
    pod = the(manifest_files, "Deployment", "claudescale")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    claim = the(manifest_files, "PersistentVolumeClaim", "claudescale-state")["metadata"]["name"]
    state_mount = next(
        path for path, name in mounts.items() if "persistentVolumeClaim" in volumes[name]
    )
    assert volumes[mounts[state_mount]]["persistentVolumeClaim"]["claimName"] == claim
    config = yaml.safe_load(
        the(manifest_files, "ConfigMap", "claudescale-config")["data"]["config.yaml"]
    )
    for path in (config["audit"]["path"], config["approvals"]["state_dir"]):
        assert Path(path).is_relative_to(state_mount), path


def test_the_mcp_token_comes_from_a_secret_the_user_creates(manifest_files: Docs) -> None:
    assert objects(manifest_files, "Secret") == []
    pod = the(manifest_files, "Deployment", "claudescale")["spec"]["template"]["spec"]
    secrets = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert secrets and all(s["optional"] is False for s in secrets)
    assert [s["secretName"] for s in secrets] == ["claudescale-mcp-token"]
    env = pod["containers"][0].get("env", [])
    assert not [e for e in env if "value" in e and "token" in e["name"].lower()]


def test_the_settings_in_the_configmap_pass_config_check(
    manifest_files: Docs, tmp_path: Path
) -> None:
    text = the(manifest_files, "ConfigMap", "claudescale-config")["data"]["config.yaml"]
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "claudescale.cli.main", "config", "check", str(config)]
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("max_replicas: 5", "max_replicas: five"), encoding="utf-8")
    command[-1] = str(broken)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 2, result.stderr


def test_the_service_is_cluster_internal_and_serves_metrics_and_mcp(manifest_files: Docs) -> None:
    service = the(manifest_files, "Service", "claudescale")
    pod = the(manifest_files, "Deployment", "claudescale")["spec"]["template"]["spec"]
    container_ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
    config = yaml.safe_load(
        the(manifest_files, "ConfigMap", "claudescale-config")["data"]["config.yaml"]
    )
    assert service["spec"]["type"] == "ClusterIP"
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http", "mcp"}
    assert container_ports["http"] == config["service"]["port"]
    assert config["service"]["host"] == "0.0.0.0"


def test_the_mcp_settings_match_the_ports_and_the_mounted_secret(manifest_files: Docs) -> None:
    settings = parse_settings(
        yaml.safe_load(
            the(manifest_files, "ConfigMap", "claudescale-config")["data"]["config.yaml"]
        )
    )
    pod = the(manifest_files, "Deployment", "claudescale")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service_ports = {
        p["targetPort"]: p["port"]
        for p in the(manifest_files, "Service", "claudescale")["spec"]["ports"]
    }
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    policy = the(manifest_files, "NetworkPolicy", "claudescale")
    mcp = settings.mcp
    assert mcp.enabled and mcp.token_env is None
    assert mcp.port == container_ports["mcp"] == service_ports["mcp"]
    assert mcp.token_file == Path(mounts["mcp-token"]) / "token"  # README: --from-literal=token
    assert {"port": "mcp", "protocol": "TCP"} in [
        port for rule in policy["spec"]["ingress"] for port in rule["ports"]
    ]
    with pytest.raises(ConfigError, match="cannot read the token file"):
        options_for_run(settings)  # no Secret mounted here: no token, no start


def test_network_policies_restrict_claudescale_both_ways(manifest_files: Docs) -> None:
    policy = the(manifest_files, "NetworkPolicy", "claudescale")
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "claudescale"}
    }
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert all(rule.get("ports") for rule in policy["spec"]["ingress"] + policy["spec"]["egress"])


def test_every_image_is_pinned_to_a_version(manifest_files: Docs) -> None:
    images = [
        container["image"]
        for deployment in objects(manifest_files, "Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
    ]
    assert len(images) >= 3
    for image in images:
        tag = image.rpartition(":")[2]
        assert tag[:1].isdigit() or tag.startswith("v"), image
        assert tag != "latest" and "/" not in tag, image


def test_the_sandbox_enforces_nothing_the_role_does_not_grant(manifest_files: Docs) -> None:
    """``claudescale sim --rbac product`` must never allow what the real Role refuses (it may
    allow less: Events and Leases come with the issue's Events and leader election)."""
    sandbox = {(r.group, r.resource, verb) for r in PRODUCT_RULES for verb in r.verbs}
    granted = set().union(*(grants(role) for role in claudescale_roles(manifest_files)))
    assert sandbox <= granted, f"the sandbox allows more than the Role: {sandbox - granted}"


def test_every_pod_meets_the_restricted_pod_security_standard(manifest_files: Docs) -> None:
    """The namespace enforces ``restricted``: a pod that does not meet it is never created."""
    namespace = the(manifest_files, "Namespace", "claudescale")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in objects(manifest_files, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), name
        for volume in pod.get("volumes", []):
            assert "hostPath" not in volume, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            assert container.get("livenessProbe") and container.get("readinessProbe"), name
