"""The tamper suite: whatever is done to the audit log or its checkpoint between two runs, the
restart refuses what the untampered run refused (the scale-up cooldown and the
``external_controller`` stop included), and ``audit verify`` names the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudescale.audit import verify
from claudescale.audit.format import ZERO_HASH, encode_record
from claudescale.core.values import Code, WorkloadRef
from claudescale.testing.harness import REF, Harness, ScriptedHarness, up

API = WorkloadRef("shop", "api")
REFUSED_UP = {Code.COOLDOWN_UP, Code.RATE_LIMITED}


def harness(tmp_path: Path) -> ScriptedHarness:
    return Harness.scripted(
        tmp_path,
        mode="autonomous",
        cpu=90.0,
        refs=(REF, API),
        guardrails={"reversion_limit": 1},
        # A change anywhere in the log is found at start-up, not only by `audit verify`.
        audit={"full_verify_at_start": True},
    )


async def first_run(h: ScriptedHarness) -> None:
    """API is stopped (someone reverted our change); web scaled up 10 s ago."""
    async with h.running() as executor:
        assert (await h.submit(up(4, 3, ref=API))).code is Code.OK
        h.cluster.set_replicas_externally(API, 3)
        executor.observe([h.cluster.state(API)], read_started_at=h.clock.now())
        h.clock.advance(100)
        assert (await h.submit(up(4, 3))).code is Code.OK
    h.clock.advance(10)


async def refusals(h: ScriptedHarness) -> tuple[Code, Code]:
    async with h.running():
        web = await h.submit(up(5, 4))
        api = await h.submit(up(4, 3, ref=API))
    return web.code, api.code


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rechain(path: Path, kept: list[bytes]) -> None:
    prev, out = ZERO_HASH, []
    for line in kept:
        record: dict[str, Any] = orjson.loads(line)
        del record["hash"]
        record["prev"] = prev
        encoded, prev = encode_record(record)
        out.append(encoded)
    path.write_bytes(b"".join(out))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(b'"kind":"proposal"') + 9
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def delete_a_middle_record(path: Path) -> None:
    kept = lines(path)
    del kept[len(kept) // 2]
    path.write_bytes(b"".join(kept))


def cut_the_tail(path: Path) -> None:
    path.write_bytes(b"".join(lines(path)[:-4]))


def recompute_without_the_last_action(path: Path) -> None:
    kept = lines(path)
    last_intent = max(i for i, line in enumerate(kept) if b'"kind":"intent"' in line)
    rechain(path, kept[:last_intent])


def delete_the_log(path: Path) -> None:
    path.unlink()


def delete_the_checkpoint(path: Path) -> None:
    path.with_name(path.name + ".checkpoint").unlink()


def delete_the_log_and_its_checkpoint(path: Path) -> None:
    path.unlink()
    path.with_name(path.name + ".checkpoint").unlink()


TAMPERS: dict[str, tuple[Callable[[Path], None], str | None]] = {
    "flip a byte": (flip_a_byte, "changed"),
    "delete a middle record": (delete_a_middle_record, "missing"),
    "cut the tail": (cut_the_tail, "cut from its end"),
    "recompute without the last action": (recompute_without_the_last_action, "checkpoint"),
    "delete the log": (delete_the_log, "the log is missing"),
    "delete the checkpoint": (delete_the_checkpoint, "checkpoint"),
    "delete the log and its checkpoint": (delete_the_log_and_its_checkpoint, None),
}


async def test_an_untampered_restart_refuses_the_cooldown_and_the_stop(tmp_path: Path) -> None:
    h = harness(tmp_path)
    await first_run(h)

    web, api = await refusals(h)

    assert (web, api) == (Code.COOLDOWN_UP, Code.EXTERNAL_CONTROLLER)
    assert verify(h.audit_path).ok


@pytest.mark.parametrize("name", sorted(TAMPERS))
async def test_a_restart_after_tampering_refuses_what_the_untampered_run_refused(
    tmp_path: Path, name: str
) -> None:
    tamper, named = TAMPERS[name]
    h = harness(tmp_path)
    await first_run(h)
    tamper(h.audit_path)
    if named is not None:
        result = verify(h.audit_path)
        assert not result.ok and named in result.message

    web, api = await refusals(h)

    assert web in REFUSED_UP
    assert api is Code.EXTERNAL_CONTROLLER


@pytest.mark.parametrize("name", sorted(set(TAMPERS) - {"delete the log and its checkpoint"}))
async def test_the_damage_is_still_found_after_a_second_restart(tmp_path: Path, name: str) -> None:
    tamper, _ = TAMPERS[name]
    h = harness(tmp_path)
    await first_run(h)
    tamper(h.audit_path)
    await refusals(h)
    h.clock.advance(1000)

    async with h.running():
        pass

    assert not verify(h.audit_path).ok
    restarts = h.records("restart")
    assert restarts[-1]["recovered"] is False and "damage" in restarts[-1]
