"""Every stored trace runs for a few simulated minutes through the HPA reference and through
claudescale (rules and the scripted model), with replicas inside the bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.hpa.claudescale_run import run_claudescale
from benchmarks.hpa.hpa import HpaSpec
from benchmarks.hpa.model import reply_for
from benchmarks.hpa.sim import run_hpa
from benchmarks.hpa.traces import load_trace, trace_names
from benchmarks.hpa.world import Pipeline
from claudescale.core.limits import Limits
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import CpuReading, WorkloadRef

MINUTES_S = 240.0


@pytest.mark.parametrize("name", trace_names())
async def test_each_trace_runs_for_a_few_minutes_through_every_controller(
    name: str, tmp_path: Path
) -> None:
    trace = load_trace(name)
    ledgers = [await run_hpa(trace, Pipeline(), HpaSpec(), duration_s=MINUTES_S)]
    for model in (False, True):
        ledger, extras = await run_claudescale(
            trace, Pipeline(), tmp_path / str(model), model=model, duration_s=MINUTES_S
        )
        ledgers.append(ledger)
        if model:
            assert extras["model_consults_per_hour"] == pytest.approx(240.0)
    for ledger in ledgers:
        assert ledger.replica_s > 0
        assert ledger.series[-1][0] >= MINUTES_S - 5
        assert all(2 <= replicas <= 5 for _, _, _, replicas in ledger.series)
        assert all(2 <= w.to_replicas <= 5 for w in ledger.writes)


async def test_claudescale_answers_a_step_with_a_write_through_the_real_executor(
    tmp_path: Path,
) -> None:
    trace = load_trace("step")
    ledger, _ = await run_claudescale(trace, Pipeline(), tmp_path, model=False, duration_s=600)
    assert ledger.writes and ledger.writes[0].to_replicas > ledger.writes[0].from_replicas
    (answer,) = ledger.step_to_write_s(trace.load_steps_s, 600)
    assert answer is not None and 0 < answer <= 60


def situation(percent: float, replicas: int) -> WorkloadSituation:
    return WorkloadSituation(
        ref=WorkloadRef("shop", "web"),
        uid="u",
        replicas=replicas,
        ready_pods=replicas,
        unready_pods=0,
        paused=False,
        owner=None,
        rollout_in_progress=False,
        overrides=(),
        limits=Limits(),
        limits_error=None,
        reading=CpuReading(percent),
        trend_percent_per_min=None,
        cooldown_up_remaining_s=0.0,
        cooldown_down_remaining_s=0.0,
        external_controller=False,
    )


def test_the_scripted_model_replies_the_same_to_the_same_situation() -> None:
    assert reply_for(situation(95, 2), 60) == reply_for(situation(95, 2), 60)
    assert '"target_replicas": 4' in reply_for(situation(95, 2), 60)
    assert '"scale_down"' in reply_for(situation(20, 4), 60)
    assert '"hold"' in reply_for(situation(60, 3), 60)
