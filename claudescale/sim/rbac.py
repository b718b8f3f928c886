"""Authorization in the sandbox: everything (``admin``), or exactly the product's role.

Layer: sandbox. The ``product`` role mirrors the ServiceAccount in manifests/: get/list/watch
on deployments, pods, HPAs and KEDA ScaledObjects, get/patch on deployments/scale,
create/patch on core Events, and get on version and discovery, in the managed namespaces; and
get/create/update on Leases in its own namespace (``claudescale``, the leader-election Role).
Anything else answers 403 with the API server's message, so tests that run the adapter under
it prove the product needs no more than that role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from claudescale.sim.resources import RequestInfo
from claudescale.sim.status import SimApiError

ADMIN = "admin"
PRODUCT = "product"
PRODUCT_USER = "system:serviceaccount:claudescale:claudescale"
PRODUCT_NAMESPACE = "claudescale"
"""Where the product's own Role (leader election) is bound."""

_READ = ("get", "list", "watch")


@dataclass(frozen=True, slots=True)
class Rule:
    group: str
    resource: str
    """Plural, or ``plural/subresource``."""
    verbs: tuple[str, ...]
    own_namespace: bool = False
    """Bound in ``PRODUCT_NAMESPACE`` rather than in the managed namespaces."""


PRODUCT_RULES = (
    Rule("apps", "deployments", _READ),
    Rule("apps", "deployments/scale", ("get", "patch")),
    Rule("", "pods", _READ),
    Rule("autoscaling", "horizontalpodautoscalers", _READ),
    Rule("keda.sh", "scaledobjects", _READ),
    Rule("", "events", ("create", "patch")),
    Rule("coordination.k8s.io", "leases", ("get", "create", "update"), own_namespace=True),
)


class Policy(Protocol):
    """Rules loaded from RBAC files (``claudescale.sim.rbac_files``), instead of a named role."""

    def allows(self, info: RequestInfo, verb: str) -> bool: ...


PUBLIC_PATHS = ("/version", "/api", "/apis", "/openapi", "/healthz", "/livez", "/readyz")


def _public(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)


def authorize(
    role: str | Policy, info: RequestInfo, verb: str, namespaces: Sequence[str] | None = None
) -> None:
    """Raise 403 unless ``role`` may do ``verb`` on what ``info`` names.

    ``namespaces`` limits a namespaced role (a Role per namespace, not a ClusterRole).
    """
    if role == ADMIN:
        return
    if info.kind != "resource":
        if verb == "get" and _public(info.path):
            return
        raise SimApiError(
            403, "Forbidden", f'forbidden: User "{PRODUCT_USER}" cannot {verb} path "{info.path}"'
        )
    resource = info.plural + (f"/{info.subresource}" if info.subresource else "")
    if not isinstance(role, str) and role.allows(info, verb):
        return
    for rule in PRODUCT_RULES if isinstance(role, str) else ():
        bound = (PRODUCT_NAMESPACE,) if rule.own_namespace else namespaces
        in_scope = bound is None or (info.namespace is not None and info.namespace in bound)
        granted = rule.group == info.group and rule.resource == resource and verb in rule.verbs
        if granted and in_scope:
            return
    where = (
        f'in the namespace "{info.namespace}"'
        if info.namespace is not None
        else "at the cluster scope"
    )
    subject = f"{info.plural}{'.' + info.group if info.group else ''}"
    named = f' "{info.name}"' if info.name else ""
    raise SimApiError(
        403,
        "Forbidden",
        f'{subject}{named} is forbidden: User "{PRODUCT_USER}" cannot {verb} resource '
        f'"{resource}" in API group "{info.group}" {where}',
        {"name": info.name or "", "group": info.group, "kind": info.plural},
    )
