"""Failing closed on a damaged log: every cooldown and the hourly rate limit are held for a
full cooldown from start-up, the operator's stops live beside the log, and the service says
so once, loudly, in its log and on ``/readyz``."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog
from claudescale.config import parse_settings
from claudescale.control.stops import StopStore
from claudescale.core.values import Code, WorkloadRef
from claudescale.engine.service import Service
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness, up


def flip_a_byte(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"kind":"proposal"', b'"kind":"proposaL"', 1))


async def test_a_damaged_log_holds_both_cooldowns_and_the_rate_limit_for_a_full_cooldown(
    tmp_path: Path,
) -> None:
    full = {"full_verify_at_start": True}  # the flipped byte is found at start-up
    h = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0, audit=full)
    async with h.running():
        assert (await h.submit(up(4, 3))).code is Code.OK
    h.clock.advance(1000)
    flip_a_byte(h.audit_path)
    h.workload().scaled_by_us_at_wall = None  # only the damage holds it

    async with h.running():
        at_start = await h.submit(up(5, 4))
        h.clock.advance(91)
        after_the_up_cooldown = await h.submit(up(5, 4))
        h.clock.advance(90)
        after_a_full_cooldown = await h.submit(up(5, 4))

    assert at_start.code is Code.COOLDOWN_UP
    assert after_the_up_cooldown.code is Code.RATE_LIMITED
    assert after_a_full_cooldown.code is Code.OK
    (restart,) = [r for r in h.records("restart") if r.get("damage")]
    assert "changed" in restart["damage"] and restart["hold_s"] == 180


async def test_a_fresh_log_does_not_hold_a_scale_up(tmp_path: Path) -> None:
    h = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0)

    async with h.running():
        verdict = await h.submit(up(4, 3))

    assert verdict.code is Code.OK


async def test_the_external_controller_stop_lives_in_the_stops_file_until_cleared(
    tmp_path: Path,
) -> None:
    h = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0, guardrails={"reversion_limit": 1})
    stops = StopStore(h.state_dir / "stops.json", h.clock)
    async with h.running() as executor:
        await h.submit(up(4, 3))
        h.cluster.set_replicas_externally(REF, 3)
        executor.observe([h.cluster.state(REF)], read_started_at=h.clock.now())
        assert stops.stopped() == {REF}
        executor.memory.clear_external_controller(REF, "cli:tester")

    assert stops.stopped() == frozenset()


async def test_the_service_says_once_in_its_log_and_on_readyz_that_the_log_is_damaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = parse_settings(
        {
            "mode": "autonomous",
            "audit": {"path": str(tmp_path / "audit.jsonl")},
            "service": {"port": 0},
        }
    )
    with AuditLog(settings.audit.path, 1 << 20, ManualClock()) as audit:
        for n in range(3):
            audit.append("note", {"n": n, "workload": str(WorkloadRef("shop", "web"))})
    settings.audit.path.write_bytes(settings.audit.path.read_bytes().replace(b'"n":1', b'"n":7'))
    cluster = ScriptedCluster(SystemClock())

    with caplog.at_level(logging.WARNING):
        service = Service(settings, cluster=cluster, metrics=cluster, clock=SystemClock())
        ready = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(service.run, ready=ready))
            with anyio.fail_after(10):
                await ready.wait()
            report = service.report()
            service.stop()

    damaged = [r for r in caplog.records if getattr(r, "event", None) == "audit_damaged"]
    assert len(damaged) == 1 and "audit seal" in damaged[0].getMessage()
    assert report.detail["audit_damage"] is not None
    assert "line 2 (seq 1)" in report.detail["audit_damage"]
