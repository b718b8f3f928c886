"""The product's Kubernetes Events (``adapters.kubernetes.events``) against the sandbox: one
Event per action, refusals aggregated and rate-limited like client-go's, never blocking the
executor, and failures logged once. The sandbox runs on a manual clock; the recorder's
windows are measured on it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from claudescale.adapters.kubernetes.events import WARNING_BURST, KubernetesEventRecorder
from claudescale.config.coordination import EventSettings
from claudescale.core.values import Code, Outcome, Verdict, WorkloadRef, block
from claudescale.sim import Sandbox, SimOptions
from claudescale.sim.resources import EVENTS
from claudescale.testing.clock import ManualClock
from claudescale.testing.sandbox import ConnectCluster, StartSandbox, wait_until

WEB = WorkloadRef("demo", "web")
INTERVAL_S = 30.0
WINDOW_S = 600.0
OpenRecorder = Callable[..., Any]


def _events(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.cluster.store.list(EVENTS, "demo")


def _refusal(why: str = "scale-down moves one replica at a time.") -> Verdict:
    return block(Code.STEP_TOO_LARGE, f"Refused scaling demo/web 5→3: {why}", 5, 3)


@pytest.fixture
def open_recorder(connect_cluster: ConnectCluster, sim_clock: ManualClock) -> Callable[..., Any]:
    @asynccontextmanager
    async def open_(sandbox: Sandbox, **settings: Any) -> AsyncIterator[KubernetesEventRecorder]:
        cluster = await connect_cluster(sandbox)
        values = {"repeat_interval_s": INTERVAL_S, "aggregate_window_s": WINDOW_S, **settings}
        async with KubernetesEventRecorder.open(
            cluster, EventSettings(**values), sim_clock, instance="pod-a"
        ) as recorder:
            yield recorder

    return open_


async def test_an_executed_action_is_a_normal_event_on_the_deployment_with_its_sentence(
    sandbox: Sandbox, open_recorder: OpenRecorder
) -> None:
    message = "Scaled demo/web 3→4: cpu 85% of requests"
    async with open_recorder(sandbox) as recorder:
        recorder.record(WEB, Verdict(Outcome.EXECUTED, Code.OK, message, 3, 4))
        recorder.record(WEB, Verdict(Outcome.EXECUTED, Code.OK, "Scaled demo/web 4→3: ok", 4, 3))
        await wait_until(lambda: recorder.sent == 2, 10, "two Events")

    up, down = sorted(_events(sandbox), key=lambda e: e["reason"] != "ScaledUp")
    uid = sandbox.cluster.deployment("demo", "web")["metadata"]["uid"]
    assert (up["type"], up["reason"], up["message"], up["count"]) == (
        "Normal",
        "ScaledUp",
        message,
        1,
    )
    assert up["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": "demo",
        "uid": uid,
    }
    assert (up["source"], up["reportingInstance"]) == ({"component": "claudescale"}, "pod-a")
    assert down["reason"] == "ScaledDown"


async def test_a_repeated_refusal_raises_the_count_at_most_once_per_interval(
    sandbox: Sandbox, open_recorder: OpenRecorder, sim_clock: ManualClock
) -> None:
    async with open_recorder(sandbox) as recorder:
        for _ in range(3):
            recorder.record(WEB, _refusal())
        await wait_until(lambda: len(_events(sandbox)) == 1, 10, "the first Event")
        await wait_until(lambda: recorder.sent == 1, 10, "only the create so far")
        held_back = _events(sandbox)[0]["count"]
        sim_clock.advance(INTERVAL_S)
        await wait_until(lambda: _events(sandbox)[0]["count"] == 3, 10, "the count sent later")
        sim_clock.advance(INTERVAL_S)
        recorder.record(WEB, _refusal())
        await wait_until(lambda: _events(sandbox)[0]["count"] == 4, 10, "a due repeat at once")
        recorder.record(WEB, _refusal("another reason."))
        await wait_until(lambda: len(_events(sandbox)) == 2, 10, "a new message's Event")
        sim_clock.advance(WINDOW_S + 1)
        recorder.record(WEB, _refusal())
        await wait_until(lambda: len(_events(sandbox)) == 3, 10, "a new Event after the window")

    first = _events(sandbox)[0]
    assert held_back == 1
    assert (first["type"], first["reason"]) == ("Warning", "RefusedRescale")
    assert first["lastTimestamp"] > first["firstTimestamp"]


async def test_warnings_are_rate_limited_per_workload_and_refill_over_time(
    sandbox: Sandbox, open_recorder: OpenRecorder, sim_clock: ManualClock
) -> None:
    async with open_recorder(sandbox) as recorder:
        for n in range(WARNING_BURST + 5):
            recorder.record(WEB, _refusal(f"reason number {n}."))
        await wait_until(lambda: recorder.sent == WARNING_BURST, 10, "the burst")
        sim_clock.advance(INTERVAL_S)
        recorder.record(WEB, _refusal("one more, later."))
        await wait_until(lambda: recorder.sent == WARNING_BURST + 1, 10, "a refilled token")

    assert len(_events(sandbox)) == WARNING_BURST + 1


async def test_recording_returns_at_once_and_a_full_queue_drops_and_says_so_once(
    sandbox: Sandbox, connect_cluster: ConnectCluster, sim_clock: ManualClock, caplog: Any
) -> None:
    cluster = await connect_cluster(sandbox)
    recorder = KubernetesEventRecorder(  # not running: nothing drains its queue
        cluster, EventSettings(queue_size=2), sim_clock, instance="pod-a"
    )
    with caplog.at_level(logging.WARNING):
        for n in range(5):
            recorder.record(WEB, _refusal(f"reason {n}."))
    recorder.close()
    recorder.record(WEB, _refusal("after the recorder stopped."))

    dropped = [r for r in caplog.records if getattr(r, "event", "") == "events_dropped"]
    assert len(dropped) == 1 and "demo/web" in dropped[0].getMessage()


async def test_failures_are_logged_once_and_the_recorder_carries_on(
    start_sandbox: StartSandbox, open_recorder: OpenRecorder, caplog: Any
) -> None:
    # The product's role bound in another namespace: every call about demo is forbidden.
    sandbox = await start_sandbox(options=SimOptions(rbac="product", rbac_namespaces=("x",)))
    with caplog.at_level(logging.WARNING):
        async with open_recorder(sandbox) as recorder:
            for n in range(3):
                recorder.record(WEB, _refusal(f"reason {n}."))
            await wait_until(
                lambda: recorder._receive.statistics().current_buffer_used == 0, 10, "drained"
            )

    failing = [r for r in caplog.records if getattr(r, "event", "") == "events_failing"]
    assert len(failing) == 1 and "forbidden" in failing[0].getMessage().lower()
    assert _events(sandbox) == []
