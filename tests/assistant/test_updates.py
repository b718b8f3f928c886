"""Resource-updated notifications: a client that subscribed hears, when the loop acts, that
the status, the recent audit records and the workload changed (both protocol eras)."""

from __future__ import annotations

import warnings
from typing import Any

import anyio
import pytest
from mcp.types import ResourceUpdatedNotification

from claudescale.assistant.updates import AUDIT_URI, STATUS_URI
from claudescale.core.values import WorkloadRef

WEB = WorkloadRef("demo", "web")

WEB_URI = "claudescale://workloads/demo/web"
API_URI = "claudescale://workloads/demo/api"
WAIT_S = 10.0


async def test_a_legacy_subscriber_hears_what_changed_when_the_loop_acts(
    harness: Any, client_for: Any
) -> None:
    heard: list[str] = []
    all_heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            heard.append(message.params.uri)
            if {STATUS_URI, AUDIT_URI, WEB_URI} <= set(heard):
                all_heard.set()

    async with (
        harness(cpu=85.0) as world,
        client_for(world, "legacy", None, message_handler=on_message) as client,
    ):
        assert client.server_capabilities.resources.subscribe is True
        with warnings.catch_warnings():  # resources/subscribe is the handshake era's way
            warnings.simplefilter("ignore")
            for uri in (STATUS_URI, AUDIT_URI, WEB_URI):
                await client.subscribe_resource(uri)
        with anyio.fail_after(WAIT_S):
            await world.assistant.controller.cycle()  # scales demo/web and demo/api up
            await all_heard.wait()
    assert world.cluster.get(WEB).replicas > 3
    assert API_URI not in heard, "a resource nobody subscribed to was announced"
    assert set(heard) == {STATUS_URI, AUDIT_URI, WEB_URI}


async def test_an_unsubscribed_or_silent_client_hears_nothing(
    harness: Any, client_for: Any
) -> None:
    heard: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            heard.append(message.params.uri)

    async with (
        harness(cpu=85.0) as world,
        client_for(world, "legacy", None, message_handler=on_message) as client,
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.subscribe_resource(STATUS_URI)
            await client.unsubscribe_resource(STATUS_URI)
        with anyio.fail_after(WAIT_S):
            await world.assistant.controller.cycle()
            await client.list_tools()  # a round trip: anything sent before it has arrived
    assert heard == []


async def test_a_new_era_listener_hears_what_changed_when_the_loop_acts(
    harness: Any, client_for: Any
) -> None:
    heard: list[str] = []
    async with (
        harness(cpu=85.0) as world,
        client_for(world, "auto", None) as client,
        client.listen(resource_subscriptions=[STATUS_URI, WEB_URI]) as events,
    ):
        with anyio.fail_after(WAIT_S):
            await world.assistant.controller.cycle()
            async for event in events:
                heard.append(event.uri)
                if {STATUS_URI, WEB_URI} <= set(heard):
                    break
    assert set(heard) == {STATUS_URI, WEB_URI}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_subscriber_that_went_away_never_holds_up_a_verdict(
    harness: Any, client_for: Any, mode: str
) -> None:
    async with harness(cpu=85.0) as world:
        async with client_for(world, mode, None) as client:
            if mode == "legacy":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await client.subscribe_resource(STATUS_URI)
        with anyio.fail_after(WAIT_S):
            await world.assistant.controller.cycle()
            await world.assistant.controller.cycle()
    assert world.updates.subscribers() == 0
