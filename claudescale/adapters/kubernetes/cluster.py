"""The Cluster port over kubernetes-asyncio: discover, read and scale Deployments.

Layer: adapter; the only code that talks to the Kubernetes API. Every call runs under
``anyio.fail_after(settings.request_timeout_s)`` and every failure is mapped once into
claudescale.errors (see kubernetes_errors). Answers are read as JSON (``_preload_content=False``)
rather than generated models, so Deployments, Scale, Pods, HPAs and KEDA ScaledObjects go
through one converter. ``list_workloads`` answers from the workload cache (list-then-watch,
see ``cache``), which ``KubernetesCluster.open`` runs in the adapter's own task group;
``read_workload`` is always a fresh GET, because the executor re-reads before every write.
The identity needs only: get/list/watch deployments, pods, HPAs and scaledobjects,
get/patch deployments/scale.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

from claudescale.adapters.kubernetes.cache import KEDA, OnChange, WorkloadCache
from claudescale.adapters.kubernetes.convert import FIELD_MANAGER, Json, owner_of, workload_state
from claudescale.adapters.kubernetes.errors import api_exception, map_error
from claudescale.adapters.system_clock import SystemClock
from claudescale.config.groups import ClusterSettings
from claudescale.core.values import WorkloadRef, WorkloadState
from claudescale.errors import ConfigError, NotFound
from claudescale.ports import ChangeFeed, Clock, Cluster, Probe


async def load_client_configuration(settings: ClusterSettings) -> client.Configuration:
    """A client Configuration from the kubeconfig in settings, else the in-cluster
    ServiceAccount, else the default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``)."""
    configuration = client.Configuration()
    try:
        if settings.kubeconfig is None:
            try:
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
                return configuration
            except ConfigException:
                pass
        await config.load_kube_config(
            config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
            context=settings.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError) as exc:
        where = settings.kubeconfig or "the in-cluster ServiceAccount or ~/.kube/config"
        raise ConfigError(
            f"cluster.kubeconfig: cannot load cluster access from {where} ({exc})."
        ) from exc
    return configuration


class KubernetesCluster:
    """Implements ``claudescale.ports.Cluster`` and ``ChangeFeed``. A service uses
    ``async with KubernetesCluster.open(settings) as cluster:`` (the cache runs while open);
    a short-lived tool may use ``async with await KubernetesCluster.connect(settings)``, whose
    ``list_workloads`` lists afresh on every call."""

    def __init__(
        self, api_client: client.ApiClient, settings: ClusterSettings, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._api_client = api_client
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._timeout_s = settings.request_timeout_s
        self.cache = WorkloadCache(self)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, settings: ClusterSettings, clock: Clock | None = None
    ) -> AsyncIterator[KubernetesCluster]:
        """Connect and run the workload cache in a task group until the block ends; a bug
        in the cache ends the block with it, rather than leaving it silently stale."""
        cluster = await cls.connect(settings, clock)
        try:
            async with anyio.create_task_group() as group:
                await group.start(cluster.cache.run)
                yield cluster
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await cluster.aclose()

    @property
    def api_client(self) -> client.ApiClient:
        """The connection this adapter uses; other adapters on the same identity (the
        leader Lease, Events) share it."""
        return self._api_client

    def subscribe(self, callback: OnChange) -> None:
        """Call ``callback(ref)`` when someone else changes a managed Deployment's replicas
        (or it appears or goes), as soon as the watch sees it; replaces any earlier one."""
        self.cache.on_change = callback

    @classmethod
    async def connect(
        cls, settings: ClusterSettings, clock: Clock | None = None
    ) -> KubernetesCluster:
        configuration = await load_client_configuration(settings)
        return cls(client.ApiClient(configuration), settings, clock)

    async def aclose(self) -> None:
        await self._api_client.close()

    async def __aenter__(self) -> KubernetesCluster:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- the Cluster port -------------------------------------------------------------------

    async def list_workloads(self) -> list[WorkloadState]:
        """Managed workloads (label opt-in) in every configured namespace, from the cache
        (see ``cache.WorkloadCache.states`` for before the first sync and when stale)."""
        return await self.cache.states()

    async def probe(self) -> None:
        """``ports.Probe``: whether listing works now. From the cache that is a memory read
        (Unavailable until its watch is back and fresh); without one, a fresh list."""
        await self.list_workloads()

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        """A fresh read: the scale subresource first (replicas, resourceVersion, selector),
        then the Deployment, its pods, and any HPA or ScaledObject targeting it."""
        scale = await self.call(
            f"reading the scale of {ref}",
            self.apps.read_namespaced_deployment_scale,
            ref.name,
            ref.namespace,
        )
        deployment = await self.call(
            f"reading Deployment {ref}",
            self.apps.read_namespaced_deployment,
            ref.name,
            ref.namespace,
        )
        selector = str((scale.get("status") or {}).get("selector") or "")
        pods = await self._pods(ref.namespace, selector) if selector else []
        hpas, scaled = await self._autoscalers(ref.namespace)
        return self._state(
            deployment, scale=scale, pods=pods, owner=owner_of(ref.name, hpas, scaled)
        )

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        """PATCH the scale subresource with ``metadata.resourceVersion`` as precondition:
        the API server answers 409 (Conflict) if the Deployment changed since that read. The
        field manager is our own, so ``managedFields`` dates our last write (cooldowns are
        anchored in the cluster, see ``convert.scaled_by_us_at``)."""
        if replicas < 0:
            raise ValueError(f"Cannot scale {ref} to {replicas} replicas.")
        body = {"metadata": {"resourceVersion": resource_version}, "spec": {"replicas": replicas}}
        self.cache.expect_write(ref, replicas)
        try:
            answer = await self.call(
                f"scaling {ref} to {replicas}",
                self.apps.patch_namespaced_deployment_scale,
                ref.name,
                ref.namespace,
                body,
                field_manager=FIELD_MANAGER,
            )
        except BaseException:
            self.cache.forget_write(ref)
            raise
        # The write happened; a malformed answer must not turn it into an error.
        metadata = answer.get("metadata") if isinstance(answer, dict) else None
        version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        return str(version) if version is not None else ""

    # --- helpers ----------------------------------------------------------------------------

    def _state(
        self,
        deployment: Json,
        *,
        scale: Json | None = None,
        pods: Sequence[Json] = (),
        owner: str | None = None,
    ) -> WorkloadState:
        return workload_state(
            deployment,
            namespaces=self.settings.namespaces,
            opt_in_label=self.settings.opt_in_label,
            scale=scale,
            pods=pods,
            owner=owner,
        )

    async def _pods(self, namespace: str, selector: str | None) -> list[Json]:
        kwargs = {"label_selector": selector} if selector else {}
        listing = await self.call(
            f"listing pods in {namespace}", self.core.list_namespaced_pod, namespace, **kwargs
        )
        return list(listing.get("items") or [])

    async def _autoscalers(self, namespace: str) -> tuple[list[Json], list[Json]]:
        """HPAs (autoscaling/v2) and KEDA ScaledObjects; a missing KEDA CRD means none."""
        hpas = await self.call(
            f"listing HorizontalPodAutoscalers in {namespace}",
            self.autoscaling.list_namespaced_horizontal_pod_autoscaler,
            namespace,
        )
        try:
            scaled = await self.call(
                f"listing KEDA ScaledObjects in {namespace}",
                self.custom.list_namespaced_custom_object,
                KEDA[0],
                KEDA[1],
                namespace,
                KEDA[2],
            )
        except NotFound:
            scaled = {}
        return list(hpas.get("items") or []), list(scaled.get("items") or [])

    async def call(
        self, what: str, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        """One API call under the deadline, answered as JSON; failures mapped once."""
        try:
            with anyio.fail_after(self._timeout_s):
                response = await method(
                    *args, _preload_content=False, _request_timeout=self._timeout_s, **kwargs
                )
                try:
                    data = await response.read()
                finally:
                    response.release()
            if not 200 <= response.status <= 299:
                raise api_exception(response.status, response.reason, data)
            return orjson.loads(data)
        except Exception as exc:
            raise map_error(exc, what, self._timeout_s) from exc

    async def open_stream(
        self, what: str, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        """Start a streaming call (a watch); the caller reads lines and closes the response."""
        try:
            with anyio.fail_after(self._timeout_s):
                response = await method(*args, _preload_content=False, **kwargs)
            if not 200 <= response.status <= 299:
                try:
                    with anyio.fail_after(self._timeout_s):
                        data = await response.read()
                finally:
                    response.release()
                raise api_exception(response.status, response.reason, data)
            return response
        except Exception as exc:
            raise map_error(exc, what, self._timeout_s) from exc


if TYPE_CHECKING:
    _IMPLEMENTS_THE_PORT: type[Cluster] = KubernetesCluster
    _FEEDS_CHANGES: type[ChangeFeed] = KubernetesCluster
    _PROBES: type[Probe] = KubernetesCluster
