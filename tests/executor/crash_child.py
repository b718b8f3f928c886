"""A child process for the crash test: executes one scale-up, then starts a second write whose
answer never comes, and waits there to be killed with SIGKILL. The harness's deadline ends a
child that nobody kills.

Usage: python -m tests.executor.crash_child AUDIT_PATH
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from claudescale.adapters.system_clock import SystemClock
from claudescale.config import parse_settings
from claudescale.core.values import WorkloadRef
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import REF, Harness, up


class HangingCluster(ScriptedCluster):
    """Answers the first write, then hangs forever on the next one."""

    async def scale(self, ref: WorkloadRef, replicas: int, resource_version: str) -> str:
        if self.get(ref).writes:
            print("HANGING", flush=True)
            await anyio.sleep_forever()
        return await super().scale(ref, replicas, resource_version)


async def main(audit_path: Path) -> None:
    clock = SystemClock()
    settings = parse_settings({"mode": "autonomous", "guardrails": {"cooldown_up_s": 0}})
    cluster = HangingCluster(clock)
    cluster.add(REF, 3).cpu_percent = 90.0
    harness = Harness(clock, cluster, settings, audit_path=audit_path)
    async with harness.running():
        for target in (4, 5):
            verdict = await harness.submit(up(target, target - 1, reason="cpu 90% of requests"))
            print(verdict.code.value, flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]))
