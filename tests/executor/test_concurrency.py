"""The executor works on different workloads at once, but never on more than the bound."""

from __future__ import annotations

from pathlib import Path

import anyio

from claudescale.core.values import Outcome, WorkloadRef, WorkloadState
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness, up

REFS = tuple(WorkloadRef("shop", f"web-{i}") for i in range(6))


class SlowReads(ScriptedCluster):
    """Every read waits until the test opens the gate; counts reads in progress."""

    gate: anyio.Event
    reading = 0
    most = 0

    async def read_workload(self, ref: WorkloadRef) -> WorkloadState:
        self.reading += 1
        self.most = max(self.most, self.reading)
        try:
            await self.gate.wait()
            return await super().read_workload(ref)
        finally:
            self.reading -= 1


async def test_different_workloads_are_handled_at_once_up_to_the_bound(tmp_path: Path) -> None:
    h = Harness.scripted(
        tmp_path,
        mode="autonomous",
        cpu=90.0,
        refs=REFS,
        cluster_type=SlowReads,
        cluster={"max_concurrent_actions": 4},
    )
    h.cluster.gate = anyio.Event()
    verdicts = []
    async with h.running() as executor:

        async def submit(ref: WorkloadRef) -> None:
            verdicts.append(await executor.submit(up(4, 3, ref=ref)))

        async with anyio.create_task_group() as tg:
            for ref in REFS:
                tg.start_soon(submit, ref)
            with anyio.fail_after(5):
                await anyio.wait_all_tasks_blocked()  # every task waits: at a read or a slot
            assert h.cluster.reading == 4
            h.cluster.gate.set()
    assert h.cluster.most == 4
    assert [v.outcome for v in verdicts] == [Outcome.EXECUTED] * len(REFS)
