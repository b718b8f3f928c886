"""``claudescale audit seal``: an operator closes a damaged chain and starts a new, verified
one that names the old chain's last good record; recovery then trusts the new chain, holds
every workload for a full cooldown from the seal, and the durable stops still apply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from claudescale.audit import AuditLog, iter_records, verify
from claudescale.audit.checkpoint import checkpoint_path
from claudescale.audit.seal import seal
from claudescale.cli.main import main
from claudescale.core.values import Code
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import Harness, up


def damaged_log(path: Path) -> list[dict[str, object]]:
    with AuditLog(path, 1 << 30, ManualClock()) as log:
        for n in range(5):
            log.append("note", {"n": n}, durable=True)
    records = list(iter_records(path))
    path.write_bytes(path.read_bytes().replace(b'"n":3', b'"n":7'))
    return records


def test_seal_starts_a_new_chain_naming_the_last_good_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    before = damaged_log(path)

    assert main(["audit", "seal", "--path", str(path)]) == 0

    assert verify(path).ok
    (sealed,) = iter_records(path)
    assert sealed["kind"] == "sealed" and sealed["actor"].startswith("cli:")
    assert (sealed["last_good_seq"], sealed["last_good_hash"]) == (2, before[2]["hash"])
    assert "seq 3" in sealed["problem"]
    kept = sorted(p.name for p in tmp_path.iterdir() if ".sealed-" in p.name)
    assert sorted(name.split(".sealed-")[0] for name in kept) == [
        "audit.jsonl",
        checkpoint_path(path).name,
    ]
    assert "seq 2" in capsys.readouterr().out


def test_seal_refuses_a_log_that_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, 1 << 30, ManualClock()) as log:
        log.append("note", {"n": 0}, durable=True)

    assert main(["audit", "seal", "--path", str(path)]) != 0
    assert len(list(iter_records(path))) == 1


def test_seal_refuses_while_another_process_holds_the_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    damaged_log(path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, fcntl, os; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.lockf(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            str(path) + ".lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert main(["audit", "seal", "--path", str(path)]) != 0
    finally:
        holder.communicate(timeout=10)
    assert not verify(path).ok


async def test_after_sealing_recovery_trusts_the_new_chain_but_holds_a_full_cooldown(
    tmp_path: Path,
) -> None:
    h = Harness.scripted(tmp_path, mode="autonomous", cpu=90.0)
    async with h.running():
        assert (await h.submit(up(4, 3))).code is Code.OK
    h.clock.advance(500)
    h.audit_path.write_bytes(h.audit_path.read_bytes().replace(b'"kind":"proposal"', b'"kind":"x"'))
    seal(h.audit_path, 1 << 30, h.clock, "cli:tester")
    h.workload().scaled_by_us_at_wall = None  # only the seal holds it now

    async with h.running():
        held = await h.submit(up(5, 4))
        h.clock.advance(181)
        later = await h.submit(up(5, 4))

    assert held.code in (Code.COOLDOWN_UP, Code.RATE_LIMITED)
    assert later.code is Code.OK
    assert h.records("restart")[-1]["recovered"] is True
    assert verify(h.audit_path).ok
