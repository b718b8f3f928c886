"""Fixtures for the deployment tests: the repository's manifests, read once per session.

``manifest_files`` maps every YAML file under ``manifests/`` that holds Kubernetes objects
to its documents; rules files, Prometheus configuration and kustomizations are not objects
and are left out (each has its own test).
"""

from __future__ import annotations

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
