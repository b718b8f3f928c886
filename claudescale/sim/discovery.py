"""Discovery documents: ``/version``, ``/api``, ``/apis``, groups and resource lists.

Layer: sandbox. kubectl and the scale client find resources, short names and the scale
subresource's kind (``autoscaling/v1 Scale``) here, so these must match the real shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from claudescale.sim.objects import Obj
from claudescale.sim.resources import RequestInfo, Resource

SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-claudescale-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUBRESOURCE_VERBS = {"scale": ("get", "patch", "update"), "status": ("get", "patch", "update")}


def _group_versions(resources: Sequence[Resource]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for resource in resources:
        versions = groups.setdefault(resource.group, [])
        if resource.version not in versions:
            versions.append(resource.version)
    return groups


def _api_group(name: str, versions: list[str]) -> Obj:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _resource_entries(resource: Resource) -> list[Obj]:
    entries: list[Obj] = [
        {
            "name": resource.plural,
            "singularName": resource.kind.lower(),
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
            "shortNames": list(resource.short_names),
            "categories": ["all"] if resource.plural in ("pods", "deployments") else [],
        }
    ]
    for sub in resource.subresources:
        entry: Obj = {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(_SUBRESOURCE_VERBS[sub]),
        }
        if sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale")
        entries.append(entry)
    return entries


def document(info: RequestInfo, resources: Sequence[Resource], server_address: str) -> Obj | None:
    """The discovery document for a ``discovery`` path, or None when it names nothing."""
    groups = _group_versions(resources)
    if info.path.rstrip("/") == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ],
        }
    if info.path.rstrip("/") == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_api_group(name, versions) for name, versions in groups.items() if name],
        }
    if info.group and not info.version:
        if info.group not in groups:
            return None
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            **_api_group(info.group, groups[info.group]),
        }
    matching = [r for r in resources if (r.group, r.version) == (info.group, info.version)]
    if not matching:
        return None
    entries: list[Any] = [entry for r in matching for entry in _resource_entries(r)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": matching[0].api_version,
        "resources": entries,
    }
