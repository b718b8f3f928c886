"""The rules proposer with a clock: it remembers each workload between cycles, so it scales
down only after the stabilisation window and reads a rate() window that spans a change of
ready pods per pod of the present ones."""

from __future__ import annotations

from claudescale.config import Settings, parse_settings
from claudescale.core.limits import Limits
from claudescale.core.situation import WorkloadSituation, summarise
from claudescale.core.values import (
    Action,
    CpuReading,
    History,
    PodState,
    Proposal,
    WorkloadRef,
    WorkloadState,
)
from claudescale.engine.rules_proposer import RulesProposer
from claudescale.testing.clock import ManualClock

WEB = WorkloadRef("shop", "web")
API = WorkloadRef("shop", "api")
DEFAULTS = parse_settings({})


def situation(replicas: int, percent: float, *, ref: WorkloadRef = WEB) -> WorkloadSituation:
    pods = tuple(PodState(f"{ref.name}-{i}", ready=True) for i in range(replicas))
    return summarise(
        WorkloadState(ref, "uid-1", replicas, "42", replicas, pods=pods),
        CpuReading(percent, age_s=5.0),
        limits=Limits(),
        trend_percent_per_min=None,
        history=History(),
        now=0.0,
    )


class Cycles:
    """The rules asked every 15 s on a manual clock, as the poll loop asks them."""

    def __init__(self, settings: Settings = DEFAULTS) -> None:
        self.clock = ManualClock(start=0.0)
        self.rules = RulesProposer(settings, clock=self.clock)

    async def at(self, t_s: float, *situations: WorkloadSituation) -> list[Proposal]:
        self.clock.advance(t_s - self.clock.now())
        return await self.rules.propose(list(situations))


async def test_a_scale_down_waits_until_nothing_higher_was_wanted_for_300_s() -> None:
    cycles = Cycles()
    # At 4 replicas, 50% wants 4 (outside the band, but 4 × 50 / 60 rounds up to 4).
    await cycles.at(0.0, situation(4, 50.0))
    [held] = await cycles.at(15.0, situation(4, 30.0))
    assert (held.action, held.target_replicas) == (Action.HOLD, 4)
    assert "the rules wanted 4 replicas within the last 300 s" in held.reason
    assert "below the 40% scale-down threshold" in held.reason
    for t_s in range(30, 300, 15):
        [proposal] = await cycles.at(float(t_s), situation(4, 30.0))
        assert proposal.action is Action.HOLD, t_s
    [down] = await cycles.at(301.0, situation(4, 30.0))
    assert (down.action, down.target_replicas) == (Action.SCALE_DOWN, 3)


async def test_a_noisy_load_around_the_threshold_does_not_flap() -> None:
    cycles = Cycles()
    actions = []
    for i in range(40):  # 10 minutes alternating just above and below 40% at 3 replicas
        [proposal] = await cycles.at(15.0 * i, situation(3, 36.0 if i % 2 else 44.0))
        actions.append(proposal.action)
    assert set(actions) == {Action.HOLD}


async def test_without_a_window_the_rules_scale_down_at_once() -> None:
    cycles = Cycles(parse_settings({"loop": {"scale_down_stabilisation_s": 0}}))
    await cycles.at(0.0, situation(4, 50.0))
    [down] = await cycles.at(15.0, situation(4, 30.0))
    assert (down.action, down.target_replicas) == (Action.SCALE_DOWN, 3)


async def test_a_reading_that_spans_a_scale_up_is_read_per_present_pod() -> None:
    """2 pods ran hot until a third became ready: 87.8% over 3 pods 75 s later is 78% per
    pod once the older pods' hotter past is weighed, so 4 replicas, not 5."""
    cycles = Cycles()
    await cycles.at(330.0, situation(2, 67.5))
    await cycles.at(345.0, situation(3, 72.9))
    [up] = await cycles.at(420.0, situation(3, 87.8))
    assert (up.action, up.target_replicas) == (Action.SCALE_UP, 4)
    assert up.reason.startswith(
        "Reading CPU 87.8% as 78.0% per pod: the 120 s rate() window still spans the change "
        "from 2 to 3 ready pods. CPU 78.0% of requests over 3 ready pods"
    )
    # Once the window has passed the change, the reading is taken as it is.
    [later] = await cycles.at(480.0, situation(3, 87.8))
    assert later.target_replicas == 5 and not later.reason.startswith("Reading")


async def test_the_correction_can_be_turned_off() -> None:
    cycles = Cycles(parse_settings({"loop": {"pod_change_correction": False}}))
    await cycles.at(330.0, situation(2, 67.5))
    [up] = await cycles.at(420.0, situation(3, 87.8))
    assert up.target_replicas == 5


async def test_without_a_clock_the_rules_answer_each_situation_on_its_own() -> None:
    rules = RulesProposer(DEFAULTS)
    await rules.propose([situation(4, 50.0)])
    [down] = await rules.propose([situation(4, 30.0)])
    assert (down.action, down.target_replicas) == (Action.SCALE_DOWN, 3)


async def test_a_workload_not_asked_about_for_longer_than_the_windows_is_forgotten() -> None:
    cycles = Cycles()
    await cycles.at(0.0, situation(4, 50.0), situation(3, 60.0, ref=API))
    assert cycles.rules.remembered_workloads == 2
    for t_s in range(15, 315 + 1, 15):  # the 300 s window and one 15 s cycle
        await cycles.at(float(t_s), situation(4, 50.0))
    assert cycles.rules.remembered_workloads == 2
    await cycles.at(330.0, situation(4, 50.0))
    assert cycles.rules.remembered_workloads == 1
