"""The provider proposer against a loopback fake of the Messages API (no network): a good
reply is judged by the executor; 429, 500 and a timeout leave the decision to the rules; the
hourly budget is kept; ``run`` without MCP opens it and carries out its reply."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from aiohttp import web

from claudescale.assistant.provider import ProviderProposer, model_proposers
from claudescale.cli.run_cmd import run_service
from claudescale.config import parse_settings
from claudescale.core.values import WorkloadRef
from claudescale.errors import ConfigError
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.waits import wait_until

WEB = WorkloadRef("demo", "web")
CYCLE_S = 10.0


def message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def failure(kind: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": "scripted"}}


class FakeMessages:
    """POST /v1/messages answers with the scripted (status, body, delay_s), in order."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, dict[str, Any], float]] = deque()
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        status, body, delay_s = (
            self.script.popleft() if self.script else (500, failure("api_error"), 0.0)
        )
        if delay_s:
            await anyio.sleep(delay_s)
        return web.json_response(body, status=status)


@asynccontextmanager
async def fake_api() -> AsyncIterator[tuple[FakeMessages, str]]:
    fake = FakeMessages()
    app = web.Application()
    app.router.add_post("/v1/messages", fake.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def records(world: Any, kind: str) -> list[dict[str, Any]]:
    lines = world.assistant.audit_path.read_bytes().splitlines()
    return [r for r in map(orjson.loads, lines) if r["kind"] == kind]


def sources(world: Any) -> set[str]:
    return {r["source"] for r in records(world, "verdict")}


async def cycle(world: Any) -> None:
    with anyio.fail_after(CYCLE_S):
        await world.assistant.controller.cycle()


def provider(url: str, **more: Any) -> dict[str, Any]:
    return {"provider": {"enabled": True, "base_url": url, "model": "claude-test", **more}}


async def test_a_good_reply_is_judged_and_carried_out_by_the_executor(harness: Any) -> None:
    reply = {
        "decisions": [
            {
                "namespace": "demo",
                "name": "web",
                "action": "scale_up",
                "target_replicas": 4,
                "reason": "CPU 85% is above the 60% target.",
            },
            {
                "namespace": "demo",
                "name": "api",
                "action": "hold",
                "target_replicas": 2,
                "reason": "Holding at 2 for now.",
            },
        ]
    }
    async with fake_api() as (fake, url):
        fake.script.append((200, message(json.dumps(reply)), 0.0))
        async with harness(ask_provider=True, **provider(url)) as world:
            await cycle(world)
            assert world.cluster.get(WEB).replicas == 4
    [request] = fake.requests
    assert request["model"] == "claude-test" and "You propose replica counts" in request["system"]
    assert sources(world) == {"model_provider"}
    assert records(world, "model_consult")[0]["proposals"] == 2


@pytest.mark.parametrize(
    ("status", "body", "delay_s", "why"),
    [
        (429, failure("rate_limit_error"), 0.0, "HTTP 429"),
        (500, failure("api_error"), 0.0, "HTTP 500"),
        (200, message("{}"), 3.0, "did not answer in time"),
        (200, message("I would add a replica."), 0.0, "refused"),
    ],
    ids=["429", "500", "timeout", "prose"],
)
async def test_a_failed_call_leaves_the_decision_to_the_rules(
    harness: Any, status: int, body: dict[str, Any], delay_s: float, why: str
) -> None:
    async with fake_api() as (fake, url):
        fake.script.append((status, body, delay_s))
        async with harness(ask_provider=True, **provider(url, timeout_s=0.3)) as world:
            started = anyio.current_time()
            await cycle(world)
            took_s = anyio.current_time() - started
    assert len(fake.requests) == 1  # never retried
    [unavailable] = records(world, "proposer_unavailable")
    assert unavailable["code"] == "llm_unavailable" and why in unavailable["message"]
    assert sources(world) == {"rules"}
    assert took_s < 3.0


async def test_the_hourly_budget_is_kept(harness: Any) -> None:
    hold = {
        "decisions": [
            {
                "namespace": "demo",
                "name": "web",
                "action": "hold",
                "target_replicas": 3,
                "reason": "Hold at 3.",
            },
            {
                "namespace": "demo",
                "name": "api",
                "action": "hold",
                "target_replicas": 2,
                "reason": "Hold at 2.",
            },
        ]
    }
    async with fake_api() as (fake, url):
        fake.script.extend([(200, message(json.dumps(hold)), 0.0)] * 4)
        async with harness(ask_provider=True, cpu=60.0, **provider(url, calls_per_hour=2)) as world:
            for _ in range(4):
                await cycle(world)
            asked_in_the_hour = len(fake.requests)
            world.clock.advance(3600)
            await cycle(world)
    assert asked_in_the_hour == 2
    assert len(fake.requests) == 3
    assert len(records(world, "model_budget_spent")) == 1


def test_an_enabled_provider_without_a_key_refuses_to_start() -> None:
    settings = parse_settings({"provider": {"enabled": True, "api_key_env": "NO_SUCH_KEY_VAR"}})
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR holds no API key"):
        ProviderProposer(settings, ManualClock(), environ={})


async def test_run_without_mcp_opens_the_provider_and_carries_out_its_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``claudescale run`` without ``mcp.enabled``: ``run_cluster`` opens the provider with
    ``model_proposers`` and gives ``run_service`` the models; the service hands it its audit
    log, asks it (change-triggered) and the executor carries out its reply."""
    scale_up = {
        "decisions": [
            {
                "namespace": "demo",
                "name": "web",
                "action": "scale_up",
                "target_replicas": 4,
                "reason": "CPU 85% is above the 60% target.",
            }
        ]
    }
    clock = ManualClock()
    cluster = ScriptedCluster(clock)
    cluster.add(WEB, 3).cpu_percent = 85.0
    audit_path = tmp_path / "audit.jsonl"
    async with fake_api() as (fake, url):
        fake.script.append((200, message(json.dumps(scale_up)), 0.0))
        settings = parse_settings(
            {
                "mode": "autonomous",
                "audit": {"path": str(audit_path)},
                "service": {"port": 0},
                # An empty log counts as an action at start; the first consult may act now.
                "guardrails": {"cooldown_up_s": 0},
                **provider(url, api_key_env="CLAUDESCALE_TEST_PROVIDER_KEY"),
            }
        )
        monkeypatch.setenv("CLAUDESCALE_TEST_PROVIDER_KEY", "test-key")
        async with model_proposers(settings, clock) as models, anyio.create_task_group() as tg:
            service = partial(run_service, settings, cluster=cluster, metrics=cluster, clock=clock)
            tg.start_soon(partial(service, models=models))
            written = lambda: bool(cluster.get(WEB).writes)  # noqa: E731
            await wait_until(written, 30, "a scale write", poll_s=0.01)
            tg.cancel_scope.cancel()
    assert cluster.get(WEB).writes[0] == (3, 4)
    lines = [orjson.loads(line) for line in audit_path.read_bytes().splitlines()]
    consult = next(r for r in lines if r["kind"] == "model_consult")
    assert consult["proposals"] == 1
    executed = next(r for r in lines if r["kind"] == "verdict" and r["code"] == "ok")
    assert (executed["source"], executed["to"]) == ("model_provider", 4)
