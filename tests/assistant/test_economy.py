"""Model economy: the model is asked about a workload only when its situation changed enough;
the rules decide in between."""

from __future__ import annotations

from collections.abc import Sequence

from claudescale.assistant.economy import ChangeTriggered
from claudescale.config import Settings
from claudescale.core.limits import Limits
from claudescale.core.situation import LastDecision, WorkloadSituation, summarise
from claudescale.core.values import (
    Code,
    CpuReading,
    History,
    Outcome,
    PodState,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.telemetry import Telemetry
from claudescale.engine.telemetry_taps import TimedProposer
from claudescale.testing.clock import ManualClock

WEB = WorkloadRef("demo", "web")
REFUSED = LastDecision(Outcome.BLOCKED, Code.COOLDOWN_UP, Source.RULES, 1.0, "cooldown")


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.asked: list[list[float | None]] = []

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        self.asked.append([s.reading.percent for s in situations])
        return []


def situation(
    percent: float, last: LastDecision | None = None, replicas: int = 3
) -> WorkloadSituation:
    pods = tuple(PodState(f"web-{i}", ready=True, cpu_request_cores=1.0) for i in range(replicas))
    state = WorkloadState(WEB, "uid", replicas, "1", ready_replicas=replicas, pods=pods)
    return summarise(
        state,
        CpuReading(percent),
        limits=Limits(),
        trend_percent_per_min=None,
        history=History(),
        now=0.0,
        last_decision=last,
    )


async def asked_about(
    *steps: tuple[float, float, LastDecision | None], replicas: Sequence[int] = ()
) -> list[list[float | None]]:
    """Run ``(advance_s, cpu_percent, last_decision)`` steps (at ``replicas``, 3 by default);
    what the model was asked about."""
    clock = ManualClock()
    recorder = Recorder()
    gate = ChangeTriggered(recorder, Settings(), clock, off_target_s=180.0)
    for index, (advance_s, percent, last) in enumerate(steps):
        clock.advance(advance_s)
        count = replicas[index] if replicas else 3
        await gate.propose([situation(percent, last, count)])
    return recorder.asked


async def test_a_workload_in_the_band_is_left_to_the_rules() -> None:
    assert await asked_about((0, 60.0, None), (15, 62.0, None), (15, 58.0, None)) == []


async def test_leaving_the_band_asks_once_then_the_rules_decide() -> None:
    asked = await asked_about((0, 60.0, None), (15, 85.0, None), (15, 86.0, None), (15, 88.0, None))
    assert asked == [[85.0]]


async def test_crossing_the_scale_down_threshold_asks_once() -> None:
    asked = await asked_about((0, 50.0, None), (15, 35.0, None), (15, 34.0, None))
    assert asked == [[35.0]]


async def test_minutes_spent_off_target_ask_again() -> None:
    asked = await asked_about((0, 85.0, None), (90, 85.0, None), (90, 85.0, None))
    assert asked == [[85.0], [85.0]]


async def test_a_cleared_refusal_asks_again() -> None:
    asked = await asked_about((0, 85.0, REFUSED), (15, 85.0, REFUSED), (15, 85.0, None))
    assert asked == [[85.0], [85.0]]


async def test_nothing_the_guardrails_could_allow_asks_nothing() -> None:
    at_min = await asked_about((0, 20.0, None), (200, 20.0, None), replicas=(2, 2))
    at_max = await asked_about((0, 99.0, None), (200, 99.0, None), replicas=(5, 5))
    just_low = await asked_about((0, 45.0, None), (200, 45.0, None))  # above the 40% threshold
    assert at_min == at_max == just_low == []


async def test_one_consult_per_poll_would_ask_ten_times_more_over_a_load_cycle() -> None:
    # 15 s polls over the demo's phases (idle, ramp, spike, drain, idle: 20 minutes), with
    # the replicas the rules give them (2 to 5).
    load = [30.0] * 16 + [45.0, 55.0, 75.0, 85.0, 70.0] + [95.0] * 20 + [70.0, 50.0] + [30.0] * 37
    replicas = [2] * 16 + [2, 2, 2, 3, 4] + [5] * 20 + [5, 5] + [4, 3] + [2] * 35
    asked = await asked_about(*((15.0, percent, None) for percent in load), replicas=replicas)
    assert len(asked) * 10 <= len(load), asked


async def test_the_service_counts_only_the_cycles_that_asked_the_model() -> None:
    clock = ManualClock()
    recorder = Recorder()
    telemetry = Telemetry()
    gate = TimedProposer(ChangeTriggered(recorder, Settings(), clock), telemetry, clock)
    for percent in (60.0, 85.0, 86.0, 88.0):  # in the band, then above it three times
        clock.advance(15.0)
        await gate.propose([situation(percent)])
    counted = [
        line
        for line in telemetry.exposition().decode().splitlines()
        if line.startswith("claudescale_model_consults_total{")
    ]
    assert len(recorder.asked) == 1
    assert counted == [
        'claudescale_model_consults_total{proposer="recorder",result="answered"} 1.0'
    ]


class Absent(Recorder):
    """A model proposer that cannot ask anyone until ``present`` (no client connected)."""

    def __init__(self) -> None:
        super().__init__()
        self.present = False
        self.consulted = False

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        self.consulted = self.present
        return await super().propose(situations) if self.present else []


async def test_a_change_nobody_could_be_asked_about_is_asked_once_someone_can() -> None:
    clock = ManualClock()
    absent = Absent()
    gate = ChangeTriggered(absent, Settings(), clock, off_target_s=180.0)
    for _ in range(3):  # above the band, with no client to ask
        clock.advance(15.0)
        await gate.propose([situation(85.0)])
    absent.present = True
    clock.advance(15.0)
    await gate.propose([situation(85.0)])
    clock.advance(15.0)
    await gate.propose([situation(86.0)])
    assert absent.asked == [[85.0]]
