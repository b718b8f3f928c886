"""Fixtures for the deployment tests: the repository's manifests, read once per session.

``manifest_files`` maps every YAML file under ``manifests/`` that holds Kubernetes objects
to its documents; rules files, Prometheus configuration and kustomizations are not objects
and are left out (each has its own test).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
NOT_OBJECTS = frozenset({"kustomization.yaml", "alert-rules.yaml", "prometheus.yml"})


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def manifest_files() -> dict[Path, list[dict[str, Any]]]:
    found: dict[Path, list[dict[str, Any]]] = {}
    for path in sorted(MANIFESTS.rglob("*.y*ml")):
        if path.name in NOT_OBJECTS:
            continue
        docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
        assert docs, f"{path} holds no Kubernetes object"
        found[path] = docs
    return found


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """Debian's kubectl, unpacked by scripts/fetch-kubectl.sh (never one found on PATH)."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "fetch-kubectl.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/fetch-kubectl.sh failed: {result.stderr.strip()}")
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_relative_to(REPO / ".cache" / "kubectl"), path
    return path
