"""A child process for the crash test: executes one scale-up, then starts a second write whose
answer never comes, and waits there to be killed with SIGKILL.

Usage: python -m tests.executor.crash_child AUDIT_PATH
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog
from claudescale.config import parse_settings
from claudescale.core.values import Action, Proposal, Source, WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.testing.cluster import ScriptedCluster

REF = WorkloadRef("shop", "web")


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
    workload = cluster.add(REF, 3)
    workload.cpu_percent = 90.0
    audit = AuditLog(audit_path, settings.audit.rotate_bytes, clock)
    executor = Executor(cluster, cluster, audit, clock, settings)
    executor.recover([])
    async with anyio.create_task_group() as tg:
        await tg.start(executor.run)
        for target in (4, 5):
            proposal = Proposal(
                REF,
                Action.SCALE_UP,
                target,
                "cpu 90% of requests",
                Source.RULES,
                from_replicas=target - 1,
            )
            verdict = await executor.submit(proposal)
            print(verdict.code.value, flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]))
