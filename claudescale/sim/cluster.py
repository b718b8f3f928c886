"""The simulated cluster: the object store, the pod controller, load and CPU accounting, and
the in-memory API that tests, the replay harness and the demo drive directly.

Layer: sandbox. Time comes from an injected Clock; nothing happens between calls except in
``tick()``, which the server calls before every request and on a timer. With a ManualClock,
``advance(s)`` moves the simulation deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from claudescale.adapters.system_clock import SystemClock
from claudescale.ports import Clock
from claudescale.sim import objects
from claudescale.sim.config import SimConfig
from claudescale.sim.load import Load
from claudescale.sim.managed_fields import after_replicas_write
from claudescale.sim.objects import Obj
from claudescale.sim.pods import PodController
from claudescale.sim.resources import DEPLOYMENTS, HPAS, NAMESPACES, PODS, SCALED_OBJECTS
from claudescale.sim.seed import populate
from claudescale.sim.status import SimApiError, check_replicas, error_for_status
from claudescale.sim.store import ObjectStore
from claudescale.sim.usage import CpuLedger
from claudescale.testing.clock import ManualClock

WorkloadKey = tuple[str, str]
_EPSILON_S = 1e-6
"""Transitions this close to now are due (sums of float steps are not exact)."""


class SimCluster:
    """Everything the sandbox simulates; the HTTP server is only a view onto it."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        history_limit: int = 1000,
    ) -> None:
        self.config = config or SimConfig()
        self.clock: Clock = clock or SystemClock()
        self.store = ObjectStore(history_limit)
        self._started_s = self.clock.now()
        self.pods = PodController(
            self.store,
            random.Random(seed),
            startup_delay_s=self.config.startup_delay_s,
            termination_grace_s=self.config.termination_grace_s,
            wall_at=self._wall_at,
        )
        self.cpu = CpuLedger(self.config.phases, self.pods, self._started_s, self.config.schedule)
        self._dirty: set[WorkloadKey] = set()
        self._write_failures: dict[WorkloadKey, int] = {}
        populate(self, self.config)

    @property
    def keda(self) -> bool:
        return self.config.keda

    # --- time -------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move a ManualClock forward and let the simulation catch up."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the sandbox to run on a ManualClock.")
        self.clock.advance(seconds)
        self.tick()

    def tick(self) -> None:
        """Bring pods, statuses, load and CPU counters up to the clock's now."""
        now_s = self.clock.now()
        while True:
            due = [
                t
                for t in (self.pods.next_transition_s(), self.cpu.next_schedule_s())
                if t is not None and t <= now_s + _EPSILON_S
            ]
            if not due:
                break
            at_s = min(due)
            for key in self.pods.workloads_due(at_s):
                self.cpu.account(key, at_s)
            self.cpu.run_schedule(at_s)
            self._dirty |= self.pods.apply_transitions(at_s)
            self._reconcile(at_s)
        self._reconcile(now_s)

    def _wall_at(self, at_s: float) -> float:
        return self.clock.wall() - (self.clock.now() - at_s)

    def _reconcile(self, at_s: float, start_ready: bool = False) -> None:
        while self._dirty:
            namespace, name = self._dirty.pop()
            self.cpu.account((namespace, name), at_s)
            self.pods.reconcile(namespace, name, at_s, start_ready=start_ready)

    # --- load ---------------------------------------------------------------------------------

    def set_load(
        self, namespace: str, name: str, *, phase: str | None = None, cores: float | None = None
    ) -> Load:
        """Switch a workload to a phase (idle, ramp, spike, drain) or a fixed demand."""
        self.tick()
        self.store.require(DEPLOYMENTS, namespace, name)
        return self.cpu.set_load((namespace, name), self.clock.now(), phase, cores)

    def load_of(self, namespace: str, name: str) -> Load:
        return self.cpu.load_of((namespace, name))

    def demand_cores(self, namespace: str, name: str) -> float:
        return self.cpu.demand_cores((namespace, name), self.clock.now())

    def cpu_counters(self) -> list[tuple[str, str, str, float]]:
        """(namespace, pod, container, cpu seconds) for every pod not yet gone."""
        self.tick()
        self.cpu.account_all(self.clock.now())
        return sorted(
            (p.namespace, p.name, objects.CONTAINER_NAME, p.cpu_seconds)
            for pods in self.pods.pods.values()
            for p in pods.values()
        )

    # --- in-memory API ----------------------------------------------------------------------

    def create_namespace(self, name: str) -> Obj:
        existing = self.store.get(NAMESPACES, "", name)
        if existing is not None:
            return existing
        return self.store.create(NAMESPACES, objects.new_namespace(name, **self._ids()))

    def create_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int = 2,
        *,
        enabled: bool = True,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        cpu_request: str | None = "250m",
        cpu_limit: str | None = "1000m",
        pods_ready: bool = False,
    ) -> Obj:
        """Create a Deployment (and its namespace); its pods start now, Ready after the delay
        unless ``pods_ready``."""
        self.tick()
        self.create_namespace(namespace)
        all_labels = {**({objects.ENABLED_LABEL: "true"} if enabled else {}), **(labels or {})}
        self.store.create(
            DEPLOYMENTS,
            objects.new_deployment(
                namespace,
                name,
                **self._ids(),
                replicas=replicas,
                labels=all_labels,
                annotations=annotations or {},
                cpu_request=cpu_request,
                cpu_limit=cpu_limit,
            ),
        )
        self._dirty.add((namespace, name))
        self._reconcile(self.clock.now(), start_ready=pods_ready)
        return self.store.require(DEPLOYMENTS, namespace, name)

    def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete a Deployment; its pods go Terminating."""
        self.tick()
        self.store.delete(DEPLOYMENTS, namespace, name)
        self.cpu.forget((namespace, name))
        self._dirty.add((namespace, name))
        self._reconcile(self.clock.now())

    def deployment(self, namespace: str, name: str) -> Obj:
        self.tick()
        return self.store.require(DEPLOYMENTS, namespace, name)

    def pods_of(self, namespace: str, name: str) -> list[Obj]:
        self.tick()
        return [
            pod
            for pod in self.store.list(PODS, namespace)
            if pod["metadata"]["name"] in self.pods.pods.get((namespace, name), {})
        ]

    def set_replicas(self, namespace: str, name: str, replicas: int) -> str:
        """Someone else (kubectl, another controller) sets replicas; returns the new
        resourceVersion of the Deployment as written."""
        deployment = self.deployment(namespace, name)
        written = self.write_deployment(
            {**deployment, "spec": {**deployment["spec"], "replicas": replicas}}
        )
        return str(written["metadata"]["resourceVersion"])

    def set_annotations(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        """Set (or with None remove) annotations on a Deployment."""
        deployment = self.deployment(namespace, name)
        merged = {**(deployment["metadata"].get("annotations") or {})}
        for key, value in annotations.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        self.write_deployment(
            {**deployment, "metadata": {**deployment["metadata"], "annotations": merged}}
        )

    def start_rollout(self, namespace: str, name: str) -> None:
        """Change the pod template (a new image, say): generation moves, new pods surge."""
        deployment = self.deployment(namespace, name)
        spec = deployment["spec"]
        template_meta = spec["template"].get("metadata", {})
        stamp = {"kubectl.kubernetes.io/restartedAt": self.pods.stamp(self.clock.now())}
        template = {
            **spec["template"],
            "metadata": {
                **template_meta,
                "annotations": {**template_meta.get("annotations", {}), **stamp},
            },
        }
        self.write_deployment({**deployment, "spec": {**spec, "template": template}})

    def create_hpa(self, namespace: str, name: str, target: str) -> Obj:
        self.create_namespace(namespace)
        return self.store.create(HPAS, objects.new_hpa(namespace, name, target, **self._ids()))

    def create_scaled_object(self, namespace: str, name: str, target: str) -> Obj:
        if not self.keda:
            raise ValueError("The sandbox was started without the KEDA CRD (keda: false).")
        self.create_namespace(namespace)
        scaled = objects.new_scaled_object(namespace, name, target, **self._ids())
        return self.store.create(SCALED_OBJECTS, scaled)

    def fail_next_write(self, namespace: str, name: str, status: int) -> None:
        """The next write through the API to this Deployment (or its scale) answers
        ``status`` (409, 404, 500, ...) and changes nothing."""
        self._write_failures[(namespace, name)] = status

    def take_write_failure(self, namespace: str, name: str) -> SimApiError | None:
        status = self._write_failures.pop((namespace, name), None)
        if status is None:
            return None
        return error_for_status(status, f"deployments.apps {namespace}/{name}")

    # --- writes shared by the in-memory and HTTP APIs ---------------------------------------

    def write_deployment(
        self, new: Obj, expect_rv: str | None = None, *, scale_manager: str | None = None
    ) -> Obj:
        """Store a Deployment: server-owned fields are kept, generation moves with the spec,
        and the controller reconciles it. ``scale_manager``: the write came through the
        scale subresource with that field manager (``managedFields`` records it)."""
        meta = new.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        current = self.store.require(DEPLOYMENTS, namespace, name)
        replicas = (new.get("spec") or {}).get("replicas", 1)
        check_replicas("Deployment.apps", name, replicas)
        kept = {
            key: current["metadata"][key]
            for key in ("uid", "creationTimestamp", "generation", "resourceVersion")
            if key in current["metadata"]
        }
        fields = current["metadata"].get("managedFields")
        if scale_manager is not None or replicas != current["spec"].get("replicas", 1):
            fields = after_replicas_write(fields, scale_manager, self.clock.wall())
        meta = {key: value for key, value in meta.items() if key != "managedFields"}
        if fields:
            kept["managedFields"] = fields
        generation = int(kept.get("generation", 1))
        if new.get("spec") != current.get("spec"):
            generation += 1
        merged: dict[str, Any] = {
            **new,
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, **kept, "generation": generation},
            "status": current.get("status", {}),
        }
        written = self.store.update(DEPLOYMENTS, merged, expect_rv)
        # The controller reacts at once (within the same instant of simulated time).
        self._dirty.add((namespace, name))
        self._reconcile(self.clock.now())
        return written

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod through the API: it goes Terminating; its Deployment replaces it."""
        for (pod_namespace, workload), pods in self.pods.pods.items():
            pod = pods.get(name)
            if pod_namespace == namespace and pod is not None:
                self.cpu.account((namespace, workload), self.clock.now())
                self.pods.terminate(pod, self.clock.now())
                self.mark_dirty(namespace, workload)
                return
        self.store.delete(PODS, namespace, name)

    def _ids(self) -> objects.Ids:
        """A fresh uid and a creation stamp for a new object."""
        return {"uid": self.pods.uid(), "created": self.pods.stamp(self.clock.now())}

    def mark_dirty(self, namespace: str, name: str) -> None:
        """Let the controller reconcile a workload now (after an API write)."""
        self._dirty.add((namespace, name))
        self._reconcile(self.clock.now())
