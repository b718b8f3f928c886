"""The simulation on a ManualClock: pod start-up and termination, rollouts, load and CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudescale.errors import ConfigError
from claudescale.sim import SimCluster, SimConfig, load_sim_config
from claudescale.sim.config import Phases, WorkloadSpec
from claudescale.testing.clock import ManualClock


def _ready(cluster: SimCluster, name: str) -> list[bool]:
    return [p["status"]["phase"] == "Running" for p in cluster.pods_of("demo", name)]


def _one_workload(replicas: int = 2, **config: object) -> SimConfig:
    return SimConfig(workloads=(WorkloadSpec(name="web", replicas=replicas),), **config)


def test_default_sandbox_has_web_and_api_opted_in_with_ready_pods() -> None:
    cluster = SimCluster(clock=ManualClock())

    web, api = cluster.deployment("demo", "web"), cluster.deployment("demo", "api")

    assert (web["spec"]["replicas"], api["spec"]["replicas"]) == (3, 2)
    assert web["metadata"]["labels"]["claudescale.io/enabled"] == "true"
    assert _ready(cluster, "web") == [True] * 3 and _ready(cluster, "api") == [True] * 2


def test_new_pods_become_ready_only_after_the_startup_delay() -> None:
    cluster = SimCluster(_one_workload(startup_delay_s=5.0), ManualClock())
    cluster.set_replicas("demo", "web", 3)

    cluster.advance(4.9)
    before = _ready(cluster, "web")
    cluster.advance(0.1)

    assert sorted(before) == [False, True, True]
    assert _ready(cluster, "web") == [True] * 3
    assert cluster.deployment("demo", "web")["status"]["readyReplicas"] == 3


def test_removed_pods_stay_terminating_for_the_grace_period() -> None:
    cluster = SimCluster(_one_workload(3, termination_grace_s=3.0), ManualClock())
    cluster.set_replicas("demo", "web", 2)

    terminating = [
        p for p in cluster.pods_of("demo", "web") if p["metadata"].get("deletionTimestamp")
    ]
    cluster.advance(2.9)
    still_there = len(cluster.pods_of("demo", "web"))
    cluster.advance(0.1)

    assert len(terminating) == 1 and still_there == 3
    assert len(cluster.pods_of("demo", "web")) == 2
    assert cluster.deployment("demo", "web")["status"]["replicas"] == 2


def test_rollout_surges_new_pods_and_retires_old_ones_as_new_ones_get_ready() -> None:
    cluster = SimCluster(_one_workload(4, startup_delay_s=5.0), ManualClock())
    old_hash = cluster.pods_of("demo", "web")[0]["metadata"]["labels"]["pod-template-hash"]
    cluster.start_rollout("demo", "web")

    status = cluster.deployment("demo", "web")["status"]
    assert status.get("updatedReplicas", 0) == 1
    assert status["readyReplicas"] == 4
    for _ in range(4):
        cluster.advance(5.0)
    cluster.advance(3.0)

    pods = cluster.pods_of("demo", "web")
    assert len(pods) == 4
    assert all(p["metadata"]["labels"]["pod-template-hash"] != old_hash for p in pods)
    assert cluster.deployment("demo", "web")["status"]["updatedReplicas"] == 4


def test_demand_is_split_over_ready_pods_and_capped_at_each_limit() -> None:
    cluster = SimCluster(_one_workload(2), ManualClock())
    cluster.set_load("demo", "web", cores=1.0)
    cluster.advance(10.0)
    shared = [seconds for *_, seconds in cluster.cpu_counters()]
    cluster.set_load("demo", "web", cores=5.0)
    cluster.advance(10.0)
    capped = [seconds for *_, seconds in cluster.cpu_counters()]

    assert shared == pytest.approx([5.0, 5.0])
    assert [after - before for before, after in zip(shared, capped, strict=True)] == (
        pytest.approx([10.0, 10.0])
    )


def test_pods_that_are_not_ready_use_no_cpu() -> None:
    cluster = SimCluster(_one_workload(1, startup_delay_s=5.0), ManualClock())
    cluster.set_load("demo", "web", cores=0.5)
    cluster.set_replicas("demo", "web", 2)
    cluster.advance(5.0)

    counters = sorted(seconds for *_, seconds in cluster.cpu_counters())

    assert counters == pytest.approx([0.0, 2.5])


def test_ramp_rises_linearly_and_drain_returns_to_idle() -> None:
    phases = Phases(idle_cores=0.2, ramp_to_cores=2.2, ramp_s=100.0, drain_s=50.0)
    cluster = SimCluster(_one_workload(phases=phases), ManualClock())
    cluster.set_load("demo", "web", phase="ramp")

    cluster.advance(50.0)
    half = cluster.demand_cores("demo", "web")
    cluster.advance(100.0)
    top = cluster.demand_cores("demo", "web")
    cluster.set_load("demo", "web", phase="drain")
    cluster.advance(25.0)
    draining = cluster.demand_cores("demo", "web")
    cluster.advance(25.0)

    assert (half, top, draining) == pytest.approx((1.2, 2.2, 1.2))
    assert cluster.demand_cores("demo", "web") == pytest.approx(0.2)


def test_schedule_from_a_yaml_file_switches_phases_at_their_times(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        "phases: {spike_cores: 3.0}\n"
        "workloads: [{namespace: demo, name: web, replicas: 3}]\n"
        "schedule:\n"
        "  - {at_s: 10, workload: demo/web, phase: spike}\n"
        "  - {at_s: 20, workload: demo/web, cores: 0.6}\n"
    )
    cluster = SimCluster(load_sim_config(path), ManualClock())

    demands = []
    for _ in range(3):
        demands.append(cluster.demand_cores("demo", "web"))
        cluster.advance(10.0)
    total_cpu_s = sum(seconds for *_, seconds in cluster.cpu_counters())

    assert demands == pytest.approx([0.2, 3.0, 0.6])
    assert total_cpu_s == pytest.approx(0.2 * 10 + 3.0 * 10 + 0.6 * 10)


def test_a_sandbox_file_with_an_unknown_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("workloads: [{name: web, replicas: 2, colour: red}]\n")

    with pytest.raises(ConfigError, match="colour"):
        load_sim_config(path)
