"""The sandbox's RBAC mode that enforces Roles as written: rules loaded from RBAC YAML files.

Layer: sandbox. ``claudescale sim --rbac-from manifests/role.yaml --rbac-from ...`` loads
Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (other kinds in the files are
skipped, so a directory of manifests may be given) and authorizes every resource request
against them the way the API server's RBAC authorizer does: a rule matches on API group,
resource (``deployments`` does not grant ``deployments/scale``; ``*`` and ``deployments/*``
are honoured), verb, and ``resourceNames`` (which never match a request without a name); a
Role grants only in its own namespace, a ClusterRole everywhere unless a RoleBinding limits
it. When the files hold bindings, only roles bound to the subject (the product's
ServiceAccount) count; without bindings every role counts. Non-resource paths (discovery,
``/version``) stay with ``rbac.authorize``. Every refusal is remembered (``refusals``) so a
test can say that a whole run needed nothing beyond the Role. It must not read files after
loading or know anything about what claudescale does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claudescale.errors import ConfigError
from claudescale.sim.resources import RequestInfo

RBAC_API = "rbac.authorization.k8s.io/v1"
SERVICE_ACCOUNT = ("claudescale", "claudescale")
"""(namespace, name) of the subject whose bindings count: the product's ServiceAccount."""


@dataclass(frozen=True, slots=True)
class PolicyRule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def allows(self, info: RequestInfo, verb: str) -> bool:
        return (
            _matches(self.verbs, verb)
            and _matches(self.api_groups, info.group)
            and any(_resource_matches(r, info.plural, info.subresource) for r in self.resources)
            and (not self.resource_names or info.name in self.resource_names)
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """Rules that apply in one namespace (None: in every namespace and at the cluster scope)."""

    namespace: str | None
    rules: tuple[PolicyRule, ...]
    source: str
    """Which role, for messages: ``Role demo/claudescale``."""


@dataclass(slots=True)
class RolePolicy:
    """What the loaded RBAC objects grant the product's ServiceAccount."""

    grants: tuple[Grant, ...]
    refusals: list[tuple[str, str]] = field(default_factory=list)
    """(verb, path) of every request refused, oldest first."""

    def allows(self, info: RequestInfo, verb: str) -> bool:
        for grant in self.grants:
            if grant.namespace is not None and grant.namespace != info.namespace:
                continue
            if any(rule.allows(info, verb) for rule in grant.rules):
                return True
        self.refusals.append((verb, info.path))
        return False

    def refusal_sentence(self, shown: int = 3) -> str:
        """What was refused so far, as the end of a sentence."""
        if not self.refusals:
            return "no request was refused."
        listed = ", ".join(f"{verb} {path}" for verb, path in self.refusals[:shown])
        more = f" and {len(self.refusals) - shown} more" if len(self.refusals) > shown else ""
        return f"{len(self.refusals)} requests were refused ({listed}{more})."


def _matches(allowed: Sequence[str], value: str) -> bool:
    return "*" in allowed or value in allowed


def _resource_matches(rule: str, plural: str, subresource: str | None) -> bool:
    if rule == "*":
        return True
    if subresource is None:
        return rule == plural
    return rule in (f"{plural}/{subresource}", f"{plural}/*", f"*/{subresource}")


def load_role_files(
    paths: Iterable[Path], subject: tuple[str, str] = SERVICE_ACCOUNT
) -> RolePolicy:
    """A policy from RBAC YAML files or directories (their ``*.yaml`` files, not recursive)."""
    roles: dict[tuple[str, str | None, str], tuple[PolicyRule, ...]] = {}
    bindings: list[tuple[str | None, str, str]] = []
    any_binding = False
    for path in _yaml_files(paths):
        for doc in _documents(path):
            kind, meta = doc.get("kind"), doc.get("metadata") or {}
            if doc.get("apiVersion") != RBAC_API:
                continue
            namespace = meta.get("namespace") if kind in ("Role", "RoleBinding") else None
            if kind in ("Role", "RoleBinding") and not namespace:
                raise ConfigError(f"{path}: {kind} {meta.get('name')!r} names no namespace.")
            if kind in ("Role", "ClusterRole"):
                roles[kind, namespace, str(meta.get("name", ""))] = _rules(path, doc)
            elif kind in ("RoleBinding", "ClusterRoleBinding"):
                any_binding = True
                if _binds(doc, subject):
                    ref = doc["roleRef"]
                    bindings.append((namespace, str(ref["kind"]), str(ref["name"])))
    if not roles:
        raise ConfigError("The RBAC files hold no Role or ClusterRole.")
    return RolePolicy(_grants(roles, bindings if any_binding else None))


def _grants(
    roles: dict[tuple[str, str | None, str], tuple[PolicyRule, ...]],
    bindings: list[tuple[str | None, str, str]] | None,
) -> tuple[Grant, ...]:
    if bindings is None:
        return tuple(
            Grant(namespace, rules, f"{kind} {namespace + '/' if namespace else ''}{name}")
            for (kind, namespace, name), rules in roles.items()
        )
    grants = []
    for namespace, kind, name in bindings:
        key = (kind, namespace if kind == "Role" else None, name)
        if key not in roles:
            where = f" in namespace {namespace}" if namespace else ""
            raise ConfigError(f"A binding{where} refers to {kind} {name!r}, which is not loaded.")
        grants.append(Grant(namespace, roles[key], f"{kind} {name} bound in {namespace or '*'}"))
    return tuple(grants)


def _binds(binding: dict[str, Any], subject: tuple[str, str]) -> bool:
    namespace, name = subject
    return any(
        s.get("kind") == "ServiceAccount"
        and s.get("name") == name
        and s.get("namespace", binding.get("metadata", {}).get("namespace")) == namespace
        for s in binding.get("subjects") or []
    )


def _rules(path: Path, role: dict[str, Any]) -> tuple[PolicyRule, ...]:
    rules = []
    for rule in role.get("rules") or []:
        if "nonResourceURLs" in rule:
            continue  # non-resource paths are the sandbox's public ones, not the files'
        try:
            rules.append(
                PolicyRule(
                    tuple(rule["apiGroups"]),
                    tuple(rule["resources"]),
                    tuple(rule["verbs"]),
                    tuple(rule.get("resourceNames") or ()),
                )
            )
        except (KeyError, TypeError) as exc:
            name = role["metadata"]["name"]
            raise ConfigError(f"{path}: a rule of {role['kind']} {name!r} lacks {exc}.") from None
    return tuple(rules)


def _yaml_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.glob("*.y*ml") if p.name != "kustomization.yaml")
        else:
            files.append(path)
    return files


def _documents(path: Path) -> list[dict[str, Any]]:
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"The RBAC file {path} cannot be read ({exc.strerror}).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"The RBAC file {path} is not valid YAML ({exc}).") from None
    return [doc for doc in docs if isinstance(doc, dict)]
