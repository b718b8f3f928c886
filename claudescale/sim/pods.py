"""Simulated pods: one per replica, created Pending, Ready after a start-up delay, Terminating
for a grace period after deletion; and the Deployment status that follows from them.

Layer: sandbox. This is the sandbox's Deployment + ReplicaSet controller. Rollouts surge a
full new set of pods and retire the old ones once the new ones are all Ready. Times are
monotonic seconds passed in by the caller; wall-clock stamps come from ``wall_at``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claudescale.sim import objects
from claudescale.sim.objects import Obj
from claudescale.sim.resources import DEPLOYMENTS, PODS
from claudescale.sim.store import ObjectStore

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NODE_CORES = 4.0


@dataclass(slots=True)
class PodSim:
    """What the sandbox knows about a pod beyond its API object."""

    namespace: str
    name: str
    workload: str
    pod_hash: str
    ready_at_s: float
    limit_cores: float
    ready: bool = False
    delete_at_s: float | None = None
    cpu_seconds: float = 0.0

    @property
    def terminating(self) -> bool:
        return self.delete_at_s is not None


class PodController:
    """Keeps each Deployment's pods and status in line with its spec."""

    def __init__(
        self,
        store: ObjectStore,
        rng: random.Random,
        *,
        startup_delay_s: float,
        termination_grace_s: float,
        wall_at: Callable[[float], float],
    ) -> None:
        self._store = store
        self._rng = rng
        self.startup_delay_s = startup_delay_s
        self.termination_grace_s = termination_grace_s
        self._wall_at = wall_at
        self.pods: dict[tuple[str, str], dict[str, PodSim]] = {}
        """Pods by workload (namespace, deployment name), then by pod name."""
        self._pending: dict[tuple[str, str], PodSim] = {}
        """Pods waiting to become Ready or to go away, by (namespace, pod name)."""

    def uid(self) -> str:
        return "%08x-%04x-4%03x-8%03x-%012x" % (  # noqa: UP031 - fixed-width hex fields
            self._rng.getrandbits(32),
            self._rng.getrandbits(16),
            self._rng.getrandbits(12),
            self._rng.getrandbits(12),
            self._rng.getrandbits(48),
        )

    def stamp(self, at_s: float) -> str:
        return objects.rfc3339(self._wall_at(at_s))

    @staticmethod
    def _due_s(pod: PodSim) -> float:
        return pod.delete_at_s if pod.delete_at_s is not None else pod.ready_at_s

    def next_transition_s(self) -> float | None:
        """The earliest pending readiness or removal time, if any."""
        return min((self._due_s(p) for p in self._pending.values()), default=None)

    def workloads_due(self, at_s: float) -> set[tuple[str, str]]:
        """Workloads with a pod that becomes Ready or goes away by ``at_s``."""
        return {(p.namespace, p.workload) for p in self._pending.values() if self._due_s(p) <= at_s}

    def apply_transitions(self, at_s: float) -> set[tuple[str, str]]:
        """Make pods due by ``at_s`` Ready or gone; returns the workloads that changed."""
        changed: set[tuple[str, str]] = set()
        for key, pod in sorted(self._pending.items()):
            if self._due_s(pod) > at_s:
                continue
            del self._pending[key]
            changed.add((pod.namespace, pod.workload))
            if pod.terminating:
                del self.pods[(pod.namespace, pod.workload)][pod.name]
                if self._store.get(PODS, pod.namespace, pod.name) is not None:
                    self._store.delete(PODS, pod.namespace, pod.name)
            else:
                self._set_ready(pod, True, pod.ready_at_s)
        return changed

    def reconcile(
        self, namespace: str, name: str, at_s: float, *, start_ready: bool = False
    ) -> None:
        """Create, retire or replace pods of one Deployment, then write its status."""
        key = (namespace, name)
        deployment = self._store.get(DEPLOYMENTS, namespace, name)
        pods = self.pods.setdefault(key, {})
        live = [p for p in pods.values() if not p.terminating]
        if deployment is None:
            for pod in live:
                self.terminate(pod, at_s)
            return
        desired = int(deployment["spec"].get("replicas", 1))
        pod_hash = objects.template_hash(deployment["spec"]["template"])
        new = [p for p in live if p.pod_hash == pod_hash]
        old = [p for p in live if p.pod_hash != pod_hash]
        # A rolling update with maxSurge 25% (at least one pod) and maxUnavailable 0: new pods
        # are added while the total stays within the surge, and old pods are retired as new
        # ones become Ready. Without old pods this is plain scaling.
        surge = max(1, math.ceil(desired * 0.25)) if old else 0
        while len(new) < desired and len(new) + len(old) < desired + surge:
            new.append(self._create(deployment, pod_hash, at_s, start_ready))
        if len(new) > desired:
            # Like a ReplicaSet: remove pods that are not ready first, then the newest.
            order = sorted(new, key=lambda p: (p.ready, -p.ready_at_s))
            for pod in order[: len(new) - desired]:
                self.terminate(pod, at_s)
                new.remove(pod)
        keep_old = max(0, desired - sum(p.ready for p in new))
        for pod in sorted(old, key=lambda p: (p.ready, -p.ready_at_s))[: len(old) - keep_old]:
            self.terminate(pod, at_s)
            old.remove(pod)
        while len(new) < desired and len(new) + len(old) < desired + surge:
            new.append(self._create(deployment, pod_hash, at_s, start_ready))
        self._write_status(deployment, desired, new, old)

    def terminate(self, pod: PodSim, at_s: float) -> None:
        if pod.terminating:
            return
        pod.delete_at_s = at_s + self.termination_grace_s
        self._pending[(pod.namespace, pod.name)] = pod
        current = self._store.get(PODS, pod.namespace, pod.name)
        if current is None:
            return
        updated = objects.pod_with_readiness(current, False, self._started(current))
        updated["metadata"]["deletionTimestamp"] = self.stamp(pod.delete_at_s)
        updated["metadata"]["deletionGracePeriodSeconds"] = int(self.termination_grace_s)
        pod.ready = False
        self._store.update(PODS, updated)

    def _create(self, deployment: Obj, pod_hash: str, at_s: float, ready: bool) -> PodSim:
        meta = deployment["metadata"]
        suffix = "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(5))
        name = f"{meta['name']}-{pod_hash}-{suffix}"
        containers = deployment["spec"]["template"].get("spec", {}).get("containers") or [{}]
        # Without a limit a pod may use what the simulated node has.
        limit = ((containers[0].get("resources") or {}).get("limits") or {}).get("cpu", NODE_CORES)
        pod = PodSim(
            meta["namespace"],
            name,
            meta["name"],
            pod_hash,
            at_s if ready else at_s + self.startup_delay_s,
            objects.parse_cpu_cores(limit),
        )
        self.pods.setdefault((pod.namespace, meta["name"]), {})[name] = pod
        self._pending[(pod.namespace, name)] = pod
        created = objects.new_pod(
            deployment, name, uid=self.uid(), created=self.stamp(at_s), pod_hash=pod_hash
        )
        self._store.create(PODS, objects.pod_with_readiness(created, False, self.stamp(at_s)))
        if ready:
            self._set_ready(pod, True, at_s)
        return pod

    def _set_ready(self, pod: PodSim, ready: bool, at_s: float) -> None:
        pod.ready = ready
        if ready:
            self._pending.pop((pod.namespace, pod.name), None)
        current = self._store.get(PODS, pod.namespace, pod.name)
        if current is not None:
            self._store.update(
                PODS,
                objects.pod_with_readiness(
                    current, ready, self._started(current) or self.stamp(at_s)
                ),
            )

    @staticmethod
    def _started(pod: Obj) -> str:
        return str(pod.get("status", {}).get("startTime") or pod["metadata"]["creationTimestamp"])

    def _write_status(
        self, deployment: Obj, desired: int, new: list[PodSim], old: list[PodSim]
    ) -> None:
        live = new + old
        ready = sum(p.ready for p in live)
        complete = len(new) == desired and not old and ready >= desired
        status: dict[str, Any] = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(live),
            "updatedReplicas": len(new),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready >= desired else "False",
                    "reason": "MinimumReplicasAvailable"
                    if ready >= desired
                    else "MinimumReplicasUnavailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                },
            ],
        }
        # The API server omits zero counts (omitempty); clients must cope, so we do too.
        status = {k: v for k, v in status.items() if v != 0}
        if status != deployment.get("status"):
            self._store.update(DEPLOYMENTS, {**deployment, "status": status})
