"""An approved change refused for a transient reason (no, stale or incomplete metrics, pods not
ready, busy, a failed read) stays approved and is carried out at a later cycle, without a
second approval, until it expires; any other refusal closes the approval, as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudescale.control.approval_values import Status
from claudescale.core.transient import TRANSIENT_REFUSALS
from claudescale.core.values import Code, Outcome
from claudescale.testing.cluster import ScriptedPod, ScriptedWorkload
from claudescale.testing.harness import Harness, ScriptedHarness, down, up

ALICE = "cli:alice"


async def approved(w: ScriptedHarness, target: int, seen: int, *, scale_down: bool) -> str:
    """Ask for a change, and have a person approve it; returns the approval id."""
    proposal = down(target, seen) if scale_down else up(target, seen)
    pending = await w.submit(proposal)
    assert pending.outcome is Outcome.PENDING, pending.message
    assert w.approvals.approve(pending.approval_id, actor=ALICE).ok
    return pending.approval_id


def no_metrics(workload: ScriptedWorkload) -> None:
    workload.cpu_percent = None


def stale_metrics(workload: ScriptedWorkload) -> None:
    workload.cpu_age_s = 600.0


def incomplete_metrics(workload: ScriptedWorkload) -> None:
    workload.pods = [ScriptedPod(cpu_percent=85.0), ScriptedPod(), ScriptedPod(cpu_percent=85.0)]


def one_pod_starting(workload: ScriptedWorkload) -> None:
    starting = ScriptedPod(ready=False)
    workload.pods = [ScriptedPod(cpu_percent=10.0), starting, ScriptedPod(cpu_percent=10.0)]


@pytest.mark.parametrize(
    ("break_it", "code", "scale_down"),
    [
        (no_metrics, Code.METRIC_MISSING, False),
        (stale_metrics, Code.METRIC_STALE, False),
        (incomplete_metrics, Code.METRICS_INCOMPLETE, False),
        (one_pod_starting, Code.PODS_NOT_READY, True),
    ],
)
async def test_an_approved_change_refused_for_a_transient_reason_runs_once_it_is_gone(
    tmp_path: Path, break_it: object, code: Code, scale_down: bool
) -> None:
    cpu = 10.0 if scale_down else 85.0
    w = Harness.scripted(tmp_path, cpu=cpu, guardrails={"min_replicas": 2})
    target = 2 if scale_down else 4
    async with w.running():
        approval_id = await approved(w, target, 3, scale_down=scale_down)
        assert callable(break_it)
        break_it(w.workload())
        refused = [await w.executor.process_approvals() for _ in range(3)]
        w.workload().pods, w.workload().cpu_percent, w.workload().cpu_age_s = None, cpu, 0.0
        carried_out = await w.executor.process_approvals()
        after = await w.executor.process_approvals()
    assert [[v.code for v in verdicts] for verdicts in refused] == [[code]] * 3
    assert [v.code for v in carried_out] == [Code.OK] and after == []
    assert w.workload().replicas == target and len(w.workload().writes) == 1
    assert w.approvals.get(approval_id).status is Status.USED  # type: ignore[union-attr]
    kept = w.records("approval_kept")
    assert [(r["approval_id"], r["code"]) for r in kept] == [(approval_id, code.value)] * 3
    assert w.records("approval_failed") == []


async def test_an_approved_change_refused_for_good_is_closed_and_not_retried(
    tmp_path: Path,
) -> None:
    w = Harness.scripted(tmp_path)
    async with w.running():
        approval_id = await approved(w, 4, 3, scale_down=False)
        w.workload().paused = True  # an operator paused the rollout: not ours to wait out
        refused = await w.executor.process_approvals()
        w.workload().paused = False
        later = await w.executor.process_approvals()
    assert [v.code for v in refused] == [Code.PAUSED] and later == []
    assert w.approvals.get(approval_id).status is Status.FAILED  # type: ignore[union-attr]
    assert [r["code"] for r in w.records("approval_failed")] == ["paused"]
    assert w.workload().writes == []


async def test_a_kept_approval_is_retried_only_until_it_expires(tmp_path: Path) -> None:
    w = Harness.scripted(tmp_path, approvals={"token_ttl_s": 300.0})
    async with w.running():
        approval_id = await approved(w, 4, 3, scale_down=False)
        w.workload().cpu_percent = None
        w.clock.advance(200.0)
        refused = await w.executor.process_approvals()
        w.clock.advance(100.0)
        w.workload().cpu_percent = 85.0
        too_late = await w.executor.process_approvals()
    assert [v.code for v in refused] == [Code.METRIC_MISSING] and too_late == []
    assert w.approvals.get(approval_id).status is Status.EXPIRED  # type: ignore[union-attr]
    assert w.workload().writes == []


def test_the_transient_refusals_are_the_ones_that_pass_by_themselves() -> None:
    assert {
        Code.METRIC_MISSING,
        Code.METRIC_STALE,
        Code.PODS_NOT_READY,
        Code.BUSY,
        Code.WRITE_FAILED,
    } <= TRANSIENT_REFUSALS
    lasting = {
        Code.ABOVE_MAX,
        Code.BELOW_MIN,
        Code.PAUSED,
        Code.CRITICAL_WORKLOAD,
        Code.EXTERNAL_CONTROLLER,
        Code.METRIC_INVALID,
        Code.APPROVAL_MISMATCH,
        Code.REASON_REQUIRED,
        Code.OWNERSHIP_CONFLICT,
    }
    assert lasting.isdisjoint(TRANSIENT_REFUSALS)
