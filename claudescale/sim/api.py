"""The REST verbs on resources: get, list, create, replace, patch, delete, and the scale
subresource, with the API server's preconditions and Status errors.

Layer: sandbox. Knows nothing of HTTP: the server parses the request into a RequestInfo, a
body and query values, and renders what these functions return (or the SimApiError they
raise). A patch or update that carries ``metadata.resourceVersion`` is a precondition: a
different current version answers 409 Conflict, exactly as the real API server does.
"""

from __future__ import annotations

from typing import Any

from claudescale.sim import event_views, objects
from claudescale.sim.cluster import SimCluster
from claudescale.sim.objects import Obj
from claudescale.sim.patch import apply_patch
from claudescale.sim.resources import (
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    RequestInfo,
    Resource,
    served,
)
from claudescale.sim.selectors import field_selector, label_selector
from claudescale.sim.status import SimApiError, bad_request, check_replicas, conflict, status_body


def not_served() -> SimApiError:
    return SimApiError(404, "NotFound", "the server could not find the requested resource")


def resource_for(cluster: SimCluster, info: RequestInfo) -> Resource:
    for resource in served(cluster.keda):
        same = (resource.group, resource.version, resource.plural) == (
            info.group,
            info.version,
            info.plural,
        )
        if same and (resource.namespaced or info.namespace is None):
            return resource
    raise not_served()


class ResourceApi:
    """REST semantics over a SimCluster."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def get(self, resource: Resource, info: RequestInfo) -> Obj:
        obj = self.store.require(resource, info.namespace or "", info.name or "")
        if info.subresource == "scale" and resource is DEPLOYMENTS:
            return objects.scale_of(obj)
        if info.subresource not in (None, "status"):
            raise not_served()
        return event_views.present(resource, obj)

    def list(
        self, resource: Resource, info: RequestInfo, labels: str | None, fields: str | None
    ) -> Obj:
        by_labels = label_selector(labels)
        by_fields = field_selector(fields, resource.field_paths)
        shown = (
            event_views.present(resource, obj) for obj in self.store.list(resource, info.namespace)
        )
        items = [obj for obj in shown if by_labels(obj) and by_fields(obj)]
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": self.store.resource_version},
            "items": items,
        }

    def create(self, resource: Resource, info: RequestInfo, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of a create must be a JSON object")
        if resource is PODS:
            raise SimApiError(
                405, "MethodNotAllowed", "the sandbox creates pods only through Deployments"
            )
        if info.name is not None:
            raise SimApiError(405, "MethodNotAllowed", "POST names a collection, not an object")
        shown, resource = resource, event_views.stored(resource)
        body = event_views.accept(shown, body)
        meta = dict(body.get("metadata") or {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{self.cluster.pods.uid()[:5]}"
        if resource.namespaced:
            if meta.get("namespace", info.namespace) != info.namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            meta["namespace"] = info.namespace
            self.store.require(NAMESPACES, "", info.namespace or "")
        clock = self.cluster.clock
        meta.update(uid=self.cluster.pods.uid(), creationTimestamp=objects.rfc3339(clock.wall()))
        meta.pop("resourceVersion", None)
        obj: Obj = {
            **body,
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": meta,
        }
        if resource is DEPLOYMENTS:
            obj = self._deployment_defaults(obj)
        created = self.store.create(resource, obj)
        if resource is DEPLOYMENTS:
            self.cluster.mark_dirty(meta["namespace"], meta["name"])
        return event_views.present(shown, created)

    def replace(self, resource: Resource, info: RequestInfo, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of an update must be a JSON object")
        meta = dict(body.get("metadata") or {})
        if meta.get("name") not in (None, info.name):
            raise bad_request("the name of the object does not match the name on the URL")
        meta["name"] = info.name
        if resource.namespaced:
            meta["namespace"] = info.namespace
        expect_rv = meta.get("resourceVersion") or None
        self._injected_failure(resource, info)
        if info.subresource == "scale" and resource is DEPLOYMENTS:
            return self._write_scale(info, body, expect_rv)
        if info.subresource is not None:
            raise not_served()
        return self._write(resource, {**body, "metadata": meta}, expect_rv)

    def patch(
        self,
        resource: Resource,
        info: RequestInfo,
        content_type: str,
        body: Any,
        field_manager: str | None = None,
    ) -> Obj:
        self._injected_failure(resource, info)
        current = self.get(resource, info)
        patched = apply_patch(content_type, current, body)
        current_rv = current["metadata"]["resourceVersion"]
        patched_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if patched_rv is not None and patched_rv != current_rv:
            raise conflict(resource.key, info.name or "", resource.group, resource.plural)
        if info.subresource == "scale" and resource is DEPLOYMENTS:
            return self._write_scale(info, patched, current_rv, field_manager)
        if info.subresource is not None:
            raise not_served()
        meta = {**(patched.get("metadata") or {}), "name": info.name}
        if resource.namespaced:
            meta["namespace"] = info.namespace
        return self._write(resource, {**patched, "metadata": meta}, current_rv)

    def delete(self, resource: Resource, info: RequestInfo) -> Obj:
        namespace, name = info.namespace or "", info.name or ""
        if info.subresource is not None or not name:
            raise SimApiError(405, "MethodNotAllowed", "DELETE needs an object name")
        self._injected_failure(resource, info)
        obj = self.store.require(resource, namespace, name)
        if resource is DEPLOYMENTS:
            self.cluster.delete_deployment(namespace, name)
        elif resource is PODS:
            self.cluster.delete_pod(namespace, name)
        else:
            self.store.delete(resource, namespace, name)
        return status_body(
            200,
            "",
            "",
            {
                "name": name,
                "group": resource.group,
                "kind": resource.plural,
                "uid": obj["metadata"].get("uid", ""),
            },
        )

    def _write(self, shown: Resource, obj: Obj, expect_rv: str | None) -> Obj:
        if shown is DEPLOYMENTS:
            return self.cluster.write_deployment(obj, expect_rv)
        resource, obj = event_views.stored(shown), event_views.accept(shown, obj)
        current = self.store.require(
            resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        )
        kept = {
            k: current["metadata"][k]
            for k in ("uid", "creationTimestamp")
            if k in current["metadata"]
        }
        written = self.store.update(
            resource,
            {
                **obj,
                "apiVersion": resource.api_version,
                "kind": resource.kind,
                "metadata": {**obj["metadata"], **kept},
            },
            expect_rv,
        )
        return event_views.present(shown, written)

    def _write_scale(
        self, info: RequestInfo, scale: Obj, expect_rv: str | None, field_manager: str | None = None
    ) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas")
        check_replicas("Scale.autoscaling", info.name or "", replicas)
        assert isinstance(replicas, int)
        current = self.store.require(DEPLOYMENTS, info.namespace or "", info.name or "")
        written = self.cluster.write_deployment(
            {**current, "spec": {**current["spec"], "replicas": replicas}},
            expect_rv,
            scale_manager=field_manager or "unknown",
        )
        return objects.scale_of(written)

    def _injected_failure(self, resource: Resource, info: RequestInfo) -> None:
        if resource is DEPLOYMENTS:
            failure = self.cluster.take_write_failure(info.namespace or "", info.name or "")
            if failure is not None:
                raise failure

    @staticmethod
    def _deployment_defaults(obj: Obj) -> Obj:
        spec = dict(obj.get("spec") or {})
        if "template" not in spec or "selector" not in spec:
            raise SimApiError(
                422,
                "Invalid",
                f'Deployment.apps "{obj["metadata"]["name"]}" is '
                "invalid: spec.selector and spec.template are required",
            )
        spec.setdefault("replicas", 1)
        meta = {**obj["metadata"], "generation": 1}
        return {**obj, "metadata": meta, "spec": spec, "status": {}}
