"""Kubeconfig files pointing kubectl and claudescale at a running sandbox.

Layer: sandbox. The file names one cluster (plain HTTP on loopback), one user (the bearer
token when the sandbox requires one) and one current context, ``claudescale-sim``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "claudescale-sim"


def kubeconfig(
    server_url: str, token: str | None = None, namespace: str = "demo"
) -> dict[str, Any]:
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server_url}}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(
    path: Path, server_url: str, token: str | None = None, namespace: str = "demo"
) -> Path:
    """Write the file (mode 0600, it may hold a token), creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server_url, token, namespace), sort_keys=False)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
