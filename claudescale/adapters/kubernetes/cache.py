"""The workload cache: Deployments, pods, HPAs and KEDA ScaledObjects of every configured
namespace, kept in memory by informers, read by ``KubernetesCluster.list_workloads``.

Layer: adapter. ``run()`` (started in the adapter's task group by ``KubernetesCluster.open``)
runs one Informer per namespace and kind. ``states()`` answers from memory:

* before the first list of every informer has landed, it waits for it, at most
  ``cache_sync_timeout_s``, then raises Unavailable;
* when an informer has been broken (no good list since a watch failed) for longer than
  ``cache_stale_after_s``, it raises Unavailable, so the loop goes blind instead of acting on
  stale data;
* when the cache is not running at all (a short-lived tool that only connected), it lists
  every kind once through the same informers, as a fresh read.

A change of a managed Deployment's replicas by someone else (or the Deployment appearing or
going) calls ``on_change(ref)`` at once; changes the adapter wrote itself (``expect_write``)
do not. Deployments are watched without a label selector and filtered here, because a watch
with a selector does not tell, on every server, that an object stopped matching.
It must not write to the cluster, nor serve ``read_workload`` (that stays a fresh GET).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from claudescale.adapters.kubernetes.compact import (
    compact_deployment,
    compact_pod,
    compact_target,
)
from claudescale.adapters.kubernetes.convert import (
    Json,
    PodIndex,
    is_managed,
    owner_of,
    workload_state,
)
from claudescale.adapters.kubernetes.watch import Informer, Source
from claudescale.config.groups import ClusterSettings
from claudescale.core.values import WorkloadRef, WorkloadState
from claudescale.errors import NotFound, Unavailable
from claudescale.ports import Clock

log = logging.getLogger(__name__)

KEDA = ("keda.sh", "v1alpha1", "scaledobjects")
KINDS = ("deployments", "pods", "hpas", "scaled_objects")
OnChange = Callable[[WorkloadRef], None]


class ClusterApis(Protocol):
    """What the cache uses of ``KubernetesCluster``: its API groups, its one way of calling
    them, its settings and its clock."""

    @property
    def apps(self) -> Any: ...
    @property
    def core(self) -> Any: ...
    @property
    def autoscaling(self) -> Any: ...
    @property
    def custom(self) -> Any: ...
    @property
    def settings(self) -> ClusterSettings: ...
    @property
    def clock(self) -> Clock: ...

    async def call(
        self, what: str, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any: ...


def sources(cluster: ClusterApis, namespace: str) -> dict[str, Source]:
    """What the cache lists and watches in one namespace, by kind, and what it keeps of each
    object (``compact``: only what a WorkloadState is made of)."""
    group, version, plural = KEDA
    return {
        "deployments": Source(
            f"Deployments in {namespace}",
            partial(cluster.apps.list_namespaced_deployment, namespace),
            compact=compact_deployment,
        ),
        "pods": Source(
            f"pods in {namespace}",
            partial(cluster.core.list_namespaced_pod, namespace),
            compact=compact_pod,
        ),
        "hpas": Source(
            f"HorizontalPodAutoscalers in {namespace}",
            partial(cluster.autoscaling.list_namespaced_horizontal_pod_autoscaler, namespace),
            compact=compact_target,
        ),
        "scaled_objects": Source(
            f"KEDA ScaledObjects in {namespace}",
            partial(
                cluster.custom.list_namespaced_custom_object, group, version, namespace, plural
            ),
            optional=True,
            compact=compact_target,
        ),
    }


class WorkloadCache:
    """Informers for every configured namespace and kind; see the module docstring."""

    def __init__(self, cluster: ClusterApis, on_change: OnChange | None = None) -> None:
        self._cluster = cluster
        self.on_change = on_change
        self.running = False
        self._own_writes: dict[WorkloadRef, int] = {}
        self._converted: dict[tuple[str, str], tuple[_Versions, WorkloadState]] = {}
        """The last cycle's states by (namespace, name), with the versions they came from."""
        self.informers: dict[tuple[str, str], Informer] = {
            (namespace, kind): self._informer(namespace, kind, source)
            for namespace in cluster.settings.namespaces
            for kind, source in sources(cluster, namespace).items()
        }

    @property
    def lists(self) -> int:
        """How many lists the informers have made (the first ones, then relists)."""
        return sum(informer.lists for informer in self.informers.values())

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run every informer until cancelled; ``started`` comes before the first lists."""
        async with anyio.create_task_group() as group:
            for informer in self.informers.values():
                group.start_soon(informer.run, name=f"informer: {informer.source.what}")
            self.running = True
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self.running = False

    async def states(self) -> list[WorkloadState]:
        """Managed workloads of every configured namespace (see the module docstring)."""
        if not self.running:
            return await self._listed_once()
        await self._wait_for_sync()
        self._check_fresh()
        return self._build({key: informer.objects for key, informer in self.informers.items()})

    def expect_write(self, ref: WorkloadRef, replicas: int) -> None:
        """The adapter is about to set ``ref`` to ``replicas``: do not report that change."""
        self._own_writes[ref] = replicas

    def forget_write(self, ref: WorkloadRef) -> None:
        self._own_writes.pop(ref, None)

    # --- helpers ----------------------------------------------------------------------------

    def _informer(self, namespace: str, kind: str, source: Source) -> Informer:
        cluster = self._cluster
        on_change = partial(self._deployment_changed, namespace) if kind == "deployments" else None
        return Informer(
            source,
            call=cluster.call,
            settings=cluster.settings,
            clock=cluster.clock,
            on_change=on_change,
        )

    async def _wait_for_sync(self) -> None:
        timeout_s = self._cluster.settings.cache_sync_timeout_s
        with anyio.move_on_after(timeout_s):
            for informer in self.informers.values():
                await informer.synced.wait()
            return
        waiting = [i for i in self.informers.values() if not i.synced.is_set()]
        errors = "; ".join(str(i.last_error) for i in waiting if i.last_error is not None)
        raise Unavailable(
            f"The workload cache has not finished its first list of "
            f"{', '.join(i.source.what for i in waiting)} within {timeout_s:g} s"
            f"{f' ({errors})' if errors else ''}."
        )

    def _check_fresh(self) -> None:
        bound_s = self._cluster.settings.cache_stale_after_s
        now = self._cluster.clock.now()
        for informer in self.informers.values():
            since = informer.broken_since
            if since is not None and now - since > bound_s:
                raise Unavailable(
                    f"The cached view of {informer.source.what} has had no working watch for "
                    f"{now - since:.0f} s (more than {bound_s:g} s): {informer.last_error}"
                ) from informer.last_error

    async def _listed_once(self) -> list[WorkloadState]:
        """A fresh read of every kind, for a cache that is not running."""
        listed: dict[tuple[str, str], dict[str, Json]] = {}
        for key, informer in self.informers.items():
            fresh = Informer(
                informer.source,
                call=self._cluster.call,
                settings=self._cluster.settings,
                clock=self._cluster.clock,
            )
            try:
                await fresh.relist()
            except NotFound:
                if not informer.source.optional:
                    raise
            listed[key] = fresh.objects
        return self._build(listed)

    def _build(self, objects: dict[tuple[str, str], dict[str, Json]]) -> list[WorkloadState]:
        settings = self._cluster.settings
        states: list[WorkloadState] = []
        converted: dict[tuple[str, str], tuple[_Versions, WorkloadState]] = {}
        for namespace in settings.namespaces:
            listed = (_in(namespace, d) for d in objects[(namespace, "deployments")].values())
            deployments = [
                d for d in listed if is_managed(d, settings.namespaces, settings.opt_in_label)
            ]
            if not deployments:
                continue
            pods = PodIndex(objects[(namespace, "pods")].values())
            hpas = objects[(namespace, "hpas")].values()
            scaled = objects[(namespace, "scaled_objects")].values()
            for deployment in sorted(deployments, key=_name):
                selector = (deployment.get("spec") or {}).get("selector")
                candidates = pods.candidates(selector)
                owner = owner_of(_name(deployment), hpas, scaled)
                # Converting thousands of Deployments and pods every cycle cost more than
                # everything else a cycle does: convert again only what changed.
                versions = _versions(deployment, candidates, owner)
                key = (namespace, _name(deployment))
                known = self._converted.get(key)
                if versions is not None and known is not None and known[0] == versions:
                    state = known[1]
                else:
                    state = workload_state(
                        deployment,
                        namespaces=settings.namespaces,
                        opt_in_label=settings.opt_in_label,
                        pods=candidates,
                        owner=owner,
                    )
                if versions is not None:
                    converted[key] = (versions, state)
                states.append(state)
        self._converted = converted
        return states

    def _deployment_changed(self, namespace: str, before: Json | None, after: Json | None) -> None:
        was, now = self._replicas(namespace, before), self._replicas(namespace, after)
        if was == now:
            return
        ref = WorkloadRef(namespace, _name(after if after is not None else before or {}))
        if now is not None and self._own_writes.get(ref) == now:
            del self._own_writes[ref]
            return
        if self.on_change is None:
            return
        log.info(
            f"{ref} changed outside claudescale (replicas {_text(was)} → {_text(now)}); "
            "starting a cycle now.",
            extra={"event": "workload_changed", "workload": str(ref)},
        )
        self.on_change(ref)

    def _replicas(self, namespace: str, deployment: Json | None) -> int | None:
        """The replicas of a managed Deployment; None when it is absent or not managed."""
        if deployment is None:
            return None
        settings = self._cluster.settings
        if not is_managed(_in(namespace, deployment), settings.namespaces, settings.opt_in_label):
            return None
        return int((deployment.get("spec") or {}).get("replicas", 1))


_Versions = tuple[str, tuple[str, ...], str | None]


def _versions(deployment: Json, pods: list[Json], owner: str | None) -> _Versions | None:
    """What a converted state depends on: the resourceVersions of the Deployment and of its
    candidate pods, and its owner; None when an object has no resourceVersion to compare."""
    version = _version(deployment)
    pod_versions = tuple(_version(pod) for pod in pods)
    if not version or not all(pod_versions):
        return None
    return version, pod_versions, owner


def _version(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _text(replicas: int | None) -> str:
    return "none (absent or not managed)" if replicas is None else str(replicas)


def _name(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _in(namespace: str, deployment: Json) -> Json:
    """The Deployment with its namespace filled in (some answers omit it in lists)."""
    meta: dict[str, Any] = dict(deployment.get("metadata") or {})
    if meta.get("namespace"):
        return deployment
    meta["namespace"] = namespace
    return {**deployment, "metadata": meta}
