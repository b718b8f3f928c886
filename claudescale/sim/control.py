"""The sandbox's own control endpoint, ``/sim/v1/...``, for demos and load scripts.

Layer: sandbox. Not part of the Kubernetes API (no auth, no RBAC), like a kubelet's port:
  GET  /sim/v1/state                                     every workload, its pods and load
  POST /sim/v1/load     {namespace, name, phase|cores}   set a load phase or fixed demand
  POST /sim/v1/replicas {namespace, name, replicas}      an external change of replicas
  POST /sim/v1/rollout  {namespace, name}                start a rollout
  POST /sim/v1/fail-next-write {namespace, name, status} make the next write fail
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from claudescale.sim.cluster import SimCluster
from claudescale.sim.load import per_pod_usage_cores
from claudescale.sim.resources import DEPLOYMENTS
from claudescale.sim.status import SimApiError


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def handle(request: web.Request, cluster: SimCluster) -> web.Response:
    action = request.path.removeprefix("/sim/v1/").strip("/")
    if request.method == "GET" and action == "state":
        return _json(summary(cluster))
    if request.method != "POST":
        return _json({"error": f"{request.method} {request.path} is not a sandbox action."}, 405)
    try:
        body = orjson.loads(await request.read() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("The body must be a JSON object.")
        namespace, name = str(body["namespace"]), str(body["name"])
        if action == "load":
            cores = body.get("cores")
            load = cluster.set_load(
                namespace,
                name,
                phase=body.get("phase"),
                cores=None if cores is None else float(cores),
            )
            return _json(
                {
                    "namespace": namespace,
                    "name": name,
                    "phase": load.phase,
                    "demand_cores": cluster.demand_cores(namespace, name),
                }
            )
        if action == "replicas":
            rv = cluster.set_replicas(namespace, name, int(body["replicas"]))
            return _json({"namespace": namespace, "name": name, "resource_version": rv})
        if action == "rollout":
            cluster.start_rollout(namespace, name)
            return _json({"namespace": namespace, "name": name})
        if action == "fail-next-write":
            cluster.fail_next_write(namespace, name, int(body["status"]))
            return _json({"namespace": namespace, "name": name, "status": body["status"]})
    except SimApiError as exc:
        return _json({"error": exc.message}, exc.code)
    except KeyError as exc:
        return _json({"error": f"The body is missing the key {exc.args[0]!r}."}, 400)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json({"error": f"{request.path} is not a sandbox action."}, 404)


def summary(cluster: SimCluster) -> dict[str, Any]:
    """A JSON-ready summary of every workload, its load and its pods."""
    cluster.tick()
    now_s = cluster.clock.now()
    cluster.cpu.account_all(now_s)
    workloads = []
    for deployment in cluster.store.list(DEPLOYMENTS):
        meta = deployment["metadata"]
        key = (meta["namespace"], meta["name"])
        pods = list(cluster.pods.pods.get(key, {}).values())
        ready = [p for p in pods if p.ready and not p.terminating]
        demand = cluster.cpu.demand_cores(key, now_s)
        workloads.append(
            {
                "namespace": key[0],
                "name": key[1],
                "replicas": deployment["spec"].get("replicas", 1),
                "ready_replicas": len(ready),
                "phase": cluster.cpu.load_of(key).phase,
                "demand_cores": round(demand, 4),
                "resource_version": meta["resourceVersion"],
                "pods": [
                    {
                        "name": p.name,
                        "ready": p.ready,
                        "terminating": p.terminating,
                        "usage_cores": round(
                            per_pod_usage_cores(demand, len(ready), p.limit_cores), 4
                        )
                        if p in ready
                        else 0.0,
                        "cpu_seconds": round(p.cpu_seconds, 3),
                    }
                    for p in pods
                ],
            }
        )
    return {"resource_version": cluster.store.resource_version, "workloads": workloads}
