"""The resource types the sandbox serves, and parsing request paths into what they name.

Layer: sandbox. This is the sandbox's equivalent of the API server's RequestInfo: one place
that knows which group, version, namespace, resource, name and subresource a path names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    """API group; empty for the core group."""
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    field_paths: tuple[str, ...] = ()
    """Dotted paths a ``fieldSelector`` may name beyond ``metadata.name``/``namespace``."""
    stored_as: str = ""
    """The storage key when this is another version's view of stored objects (as
    ``events.k8s.io/v1`` Events are of core Events); empty means ``key``."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """How the API names the resource in messages, e.g. ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self) -> str:
        """Where the store keeps these objects (one place for every view of them)."""
        return self.stored_as or self.key


NAMESPACES = Resource(
    "",
    "v1",
    "namespaces",
    "Namespace",
    False,
    ("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
)
PODS = Resource("", "v1", "pods", "Pod", True, ("po",), ("status",))
DEPLOYMENTS = Resource(
    "apps", "v1", "deployments", "Deployment", True, ("deploy",), ("scale", "status")
)
HPAS = Resource(
    "autoscaling",
    "v2",
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
    True,
    ("hpa",),
    ("status",),
)
SCALED_OBJECTS = Resource(
    "keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", True, ("so",), ("status",)
)

LEASES = Resource(
    "coordination.k8s.io",
    "v1",
    "leases",
    "Lease",
    True,
    field_paths=("spec.holderIdentity",),
)
_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
EVENTS = Resource(
    "",
    "v1",
    "events",
    "Event",
    True,
    ("ev",),
    field_paths=(
        *(f"involvedObject.{field}" for field in _REFERENCE_FIELDS),
        "reason",
        "type",
        "source",
        "reportingComponent",
    ),
)
EVENTS_V1 = Resource(
    "events.k8s.io",
    "v1",
    "events",
    "Event",
    True,
    ("ev",),
    field_paths=(
        *(f"regarding.{field}" for field in _REFERENCE_FIELDS),
        "reason",
        "type",
        "reportingController",
    ),
    stored_as=EVENTS.key,
)

BUILTIN = (NAMESPACES, PODS, DEPLOYMENTS, HPAS, LEASES, EVENTS, EVENTS_V1)


def served(keda: bool) -> tuple[Resource, ...]:
    """Every resource type served; KEDA's only when its CRD is 'installed'."""
    return (*BUILTIN, SCALED_OBJECTS) if keda else BUILTIN


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What an API path names. ``kind`` is 'resource', 'discovery' or 'other'."""

    kind: str
    path: str
    group: str = ""
    version: str = ""
    namespace: str | None = None
    plural: str = ""
    name: str | None = None
    subresource: str | None = None

    def verb(self, method: str, watch: bool) -> str:
        """The RBAC verb of a request on this path."""
        method = method.upper()
        if self.kind != "resource":
            # Non-resource URLs (/version, discovery) use the HTTP verb, lower-cased.
            return "get" if method == "HEAD" else method.lower()
        if method in ("GET", "HEAD"):
            if watch:
                return "watch"
            return "get" if self.name is not None else "list"
        if method == "DELETE":
            return "delete" if self.name is not None else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def parse_path(path: str) -> RequestInfo:
    """Split ``/apis/apps/v1/namespaces/demo/deployments/web/scale`` into its parts."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo("other", path)
    if parts[0] == "api":
        if len(parts) <= 2:
            return RequestInfo("discovery", path, "", parts[1] if len(parts) == 2 else "")
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) <= 3:
            return RequestInfo("discovery", path, *parts[1:3])
        group, version, rest = parts[1], parts[2], parts[3:]
    namespace: str | None = None
    # /api/v1/namespaces/{ns} names a namespace object; deeper paths are namespaced resources.
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        return RequestInfo("other", path)
    return RequestInfo("resource", path, group, version, namespace, plural, name, subresource)
