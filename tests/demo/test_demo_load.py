"""The demo workload for a real cluster (manifests/demo) and ``make demo-load``.

The manifests: schema-valid with the ``kubernetes-validate --strict`` command (the shared
checks of tests/deploy also cover them: strict schemas, every file listed in the
kustomization, restricted pods, pinned images), and consistent with each other and with the
product: the app is opted in where claudescale manages, runs from claudescale's own image, the
Service reaches it, and the Job's arguments are a load of that Service that the real CLI
parses. ``scripts/demo-load.sh`` (what ``make demo-load`` runs) drives a running sandbox demo,
applies the Job through kubectl when a kube context is set (a recording stand-in for kubectl
here), and says so when there is neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from claudescale.cli.main import build_parser
from claudescale.demo.plan import STORY_S
from claudescale.sim import Sandbox
from claudescale.testing.sandbox import StartSandbox

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "manifests" / "demo"
SCRIPT = REPO / "scripts" / "demo-load.sh"
FAKE_KUBECTL = """#!/usr/bin/env bash
echo "$*" >> "$KUBECTL_LOG"
if [ "$1 $2" = "config current-context" ]; then
    [ -n "${KUBE_CONTEXT:-}" ] || { echo "error: current-context is not set" >&2; exit 1; }
    echo "$KUBE_CONTEXT"
fi
"""


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEMO / name).read_text(encoding="utf-8"))
    return doc


def container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = doc["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def test_the_demo_manifests_pass_kubernetes_validate_strict() -> None:
    files = sorted(str(p) for p in DEMO.glob("*.yaml") if p.name != "kustomization.yaml")
    command = [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", *files]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(files) == 3


def test_the_demo_app_is_managed_and_runs_from_claudescales_image() -> None:
    app, product = (
        load("deployment.yaml"),
        yaml.safe_load((REPO / "manifests/deployment.yaml").read_text()),
    )
    config = yaml.safe_load(
        yaml.safe_load((REPO / "manifests/configmap.yaml").read_text())["data"]["config.yaml"]
    )
    assert app["metadata"]["labels"]["claudescale.io/enabled"] == "true"
    assert app["metadata"]["namespace"] in config["cluster"]["namespaces"]
    guardrails = config["guardrails"]
    assert guardrails["min_replicas"] <= app["spec"]["replicas"] <= guardrails["max_replicas"]
    assert container(app)["image"] == container(product)["image"]
    argv = [*container(app)["command"][1:], *container(app)["args"]]
    args = build_parser().parse_args(argv)
    assert args.command == "demo-app" and args.load is None
    ports = {p["name"]: p["containerPort"] for p in container(app)["ports"]}
    assert args.port == ports["http"]
    assert "cpu" in container(app)["resources"]["requests"], "utilisation needs a CPU request"


def test_the_load_job_loads_the_demo_apps_service_for_the_whole_story() -> None:
    app, service, job = load("deployment.yaml"), load("service.yaml"), load("load-job.yaml")
    assert service["spec"]["selector"] == app["spec"]["selector"]["matchLabels"]
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    assert container(job)["image"] == container(app)["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    argv = [*container(job)["command"][1:], *container(job)["args"]]
    args = build_parser().parse_args(argv)
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert args.command == "demo-app"
    assert args.load == f"http://{name}.{namespace}.svc:{port['port']}/"
    assert args.duration == STORY_S
    assert args.idle_rps < args.peak_rps <= args.spike_rps
    assert job["spec"]["activeDeadlineSeconds"] > args.duration


def fake_kubectl(tmp_path: Path) -> tuple[Path, Path]:
    path, log = tmp_path / "kubectl", tmp_path / "kubectl.log"
    path.write_text(FAKE_KUBECTL, encoding="utf-8")
    path.chmod(0o755)
    return path, log


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    kubectl, log = fake_kubectl(tmp_path)
    environment = {
        **os.environ,
        "BIN": str(Path(sys.executable).parent),
        "DEMO_OUTPUT": str(tmp_path / "demo-output"),
        "KUBECTL": str(kubectl),
        "KUBECTL_LOG": str(log),
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=environment, timeout=60
    )


def test_with_a_kube_context_make_demo_load_restarts_the_load_job(tmp_path: Path) -> None:
    result = run_script(tmp_path, KUBE_CONTEXT="kind-demo")
    assert result.returncode == 0, result.stderr
    assert "kube context kind-demo" in result.stdout
    calls = (tmp_path / "kubectl.log").read_text().splitlines()
    assert calls == [
        "config current-context",
        "delete job demo-load --namespace demo --ignore-not-found",
        "apply -k manifests/demo",
    ]


def test_with_no_demo_and_no_kube_context_make_demo_load_says_so(tmp_path: Path) -> None:
    result = run_script(tmp_path)
    assert result.returncode == 2
    assert "no sandbox demo is running" in result.stderr and "no current context" in result.stderr
    assert (tmp_path / "kubectl.log").read_text().splitlines() == ["config current-context"]


async def test_with_the_sandbox_demo_running_make_demo_load_drives_the_sandbox(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox: Sandbox = await start_sandbox()
    output = tmp_path / "demo-output"
    output.mkdir()
    current = {"sandbox_url": sandbox.url, "duration_s": 300.0, "speed": 6.0}
    (output / "current.json").write_text(json.dumps(current), encoding="utf-8")
    kubectl, log = fake_kubectl(tmp_path)
    env = {
        **os.environ,
        "BIN": str(Path(sys.executable).parent),
        "DEMO_OUTPUT": str(output),
        "KUBECTL": str(kubectl),
        "KUBECTL_LOG": str(log),
        "KUBE_CONTEXT": "kind-demo",
        "PHASE": "spike",
    }
    with anyio.fail_after(60):
        result = await anyio.run_process(["bash", str(SCRIPT)], env=env, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert sandbox.cluster.load_of("demo", "web").phase == "spike"
    assert "demo/web is now in phase spike" in result.stdout.decode()
    assert not log.exists(), "kubectl was not used"


@pytest.mark.parametrize("phase", ["", "spike"])
def test_make_demo_load_runs_the_script_with_its_settings(phase: str) -> None:
    result = subprocess.run(
        ["make", "-n", "-o", "install", "-o", ".venv/.installed", "demo-load", f"PHASE={phase}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"PHASE={phase} " in result.stdout and "bash scripts/demo-load.sh" in result.stdout
