"""Invariants of the executor over random timelines (hypothesis).

Whatever the proposals, clocks, restarts, write failures and external changes: replicas never
leave the bounds because of us, no two scale-ups within the up-cooldown, no scale-down within
the down-cooldown of any change, scale-downs move one replica and only below the CPU
threshold, every proposal has exactly one verdict record, and the audit chain verifies.

Two properties. The first plays replay steps (default limits, one workload), so any failure
it finds reads as a replay file. The second, wider one drives the real executor through
``claudescale.testing.harness`` with random limits (global and per workload), up to three
workloads at once, every mode, the kill switch (setting and file), human approvals, restarts
and write failures, and also checks: the hourly rate limit, every intent has exactly one
outcome, nothing is written in observe mode or with the kill switch on, nothing in supervised
mode (or asked for through a person's tool) is written without a person's approval used once,
and the cluster saw exactly the writes the audit log announces. Its number of examples comes
from the Hypothesis profile named by ``CLAUDESCALE_HYPOTHESIS_PROFILE`` (1,000 by default,
100,000 in ``make soak``).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from claudescale.audit import iter_records, verify
from claudescale.config.groups import Mode
from claudescale.core.limits import Limits
from claudescale.core.modes import HUMAN_SOURCES
from claudescale.core.values import Action, Outcome, Proposal, Source, Verdict, WorkloadRef
from claudescale.engine.executor import Executor
from claudescale.replay.runner import ReplayRun
from claudescale.replay.scenario import parse_scenario
from claudescale.testing.clock import ManualClock
from claudescale.testing.cluster import ScriptedCluster
from claudescale.testing.harness import Harness

LIMITS = Limits()
GAPS_S = [0, 0.1, 1, 30, 89.9, 90, 91, 150, 179.9, 179.9, 180, 180, 400]

cpu_values = st.one_of(
    st.floats(min_value=0, max_value=150, allow_nan=False),
    st.sampled_from(["NaN", "+Inf", None, 39.9, 40.0, 10.0, 85.0]),
    st.builds(
        lambda v, a: {"value": v, "age_s": a},
        st.floats(min_value=0, max_value=100),
        st.sampled_from([0, 59.9, 60, 61, 300]),
    ),
)
llm_texts = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda t: f'{{"action": "scale_up", "target_replicas": {t}, "reason": "cpu"}}',
        st.sampled_from(["4", "4.0", "true", '"4"', "99"]),
    ),
)


def rarely(data: st.DataObject, one_in: int) -> bool:
    """True about once in ``one_in`` draws. (Hypothesis favours small integers, so
    ``integers(0, n) == 0`` would fire far more often than 1/n.)"""
    return data.draw(st.sampled_from([False] * (one_in - 1) + [True]))


def draw_step(data: st.DataObject, t: float, replicas: int) -> dict[str, Any]:
    """One step, drawn knowing the current replica count so that most proposals are
    coherent and reach the deeper guardrails."""
    step: dict[str, Any] = {"t": t}
    if not rarely(data, 4):
        step["cpu"] = data.draw(cpu_values)
    if rarely(data, 25):
        step["external_replicas"] = data.draw(st.integers(1, 7))
    if rarely(data, 15):
        step["write_fails"] = data.draw(st.sampled_from([404, 409, 500]))
    if rarely(data, 15):
        step["restart"] = True
    if rarely(data, 15):
        step["wall_clock_jump_s"] = data.draw(st.sampled_from([-7200, -60, 3600, 86400]))
    if rarely(data, 10):
        step["workload"] = {"rollout_in_progress": data.draw(st.booleans())}
    if rarely(data, 8):
        step["llm_text"] = data.draw(llm_texts)
    elif not rarely(data, 5):
        cpu = step.get("cpu")
        low = isinstance(cpu, float) and cpu < LIMITS.scale_down_cpu_below_percent
        deltas = [-1, -1, -1, -2, 1, 0] if low else [1, 1, -1, 2, 3, 0, -2]
        target = replicas + data.draw(st.sampled_from(deltas))
        coherent = (
            "scale_up" if target > replicas else "scale_down" if target < replicas else "hold"
        )
        action = data.draw(st.sampled_from([coherent] * 6 + ["scale_up", "scale_down", "hold"]))
        reason = data.draw(
            st.sampled_from(
                ["cpu is high on ready pods", "cpu low", "cpu 85%"] * 3 + ["", "n/a", "x" * 600]
            )
        )
        step["propose"] = {"action": action, "target_replicas": target, "reason": reason}
        step["concurrent"] = data.draw(st.sampled_from([1, 1, 1, 2, 3]))
    return step


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_timeline_makes_us_break_a_guardrail(data: st.DataObject) -> None:
    replicas = data.draw(st.integers(2, 5))
    start = {
        "replicas": replicas,
        "last_action_ago_s": data.draw(st.sampled_from([None, 0, 50, 200])),
    }
    n_steps = data.draw(st.integers(4, 30))
    lines: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory() as tmp:
        audit_path = Path(tmp) / "audit.jsonl"

        async def play() -> None:
            first = draw_step(data, 0.0, replicas)
            replay = ReplayRun(parse_scenario({"start": start, "steps": [first]}), audit_path)
            async with replay.running():
                t, step_data = 0.0, first
                for index in range(n_steps):
                    if index:
                        t += data.draw(st.sampled_from(GAPS_S))
                        step_data = draw_step(data, t, replay.workload.replicas)
                    step = parse_scenario({"steps": [step_data]}).steps[0]
                    lines.extend(await replay.play(step))

        anyio.run(play)
        result = verify(audit_path)
        assert result.ok, result.message
        records = list(iter_records(audit_path))

    executed = sum(1 for line in lines if line["code"] == "ok")
    event(f"executed actions: {min(executed, 5)}{'+' if executed >= 5 else ''}")
    target(float(executed), label="executed actions")  # steer towards busy timelines
    proposals = [r for r in records if r["kind"] == "proposal"]
    verdicts = [r for r in records if r["kind"] == "verdict"]
    assert len(proposals) == len(verdicts) == len(lines)

    origin = records[0]["mono"]
    changes: list[float] = []  # our executed actions and external changes, in time order
    last_up: float | None = None
    if start["last_action_ago_s"] is not None:
        last_up = -float(start["last_action_ago_s"])
        changes.append(last_up)
    last_evaluation: dict[str, Any] | None = None
    for record in records:
        at = record["mono"] - origin
        if record["kind"] == "evaluation":
            last_evaluation = record
        if record["kind"] == "external_change":
            changes.append(at)
        if record["kind"] == "intent" and record["to"] < record["from"]:
            assert last_evaluation is not None
            percent = last_evaluation["reading"]["percent"]
            assert isinstance(percent, float) and percent < LIMITS.scale_down_cpu_below_percent
        if record["kind"] != "outcome" or record["code"] not in ("ok", "unknown"):
            continue
        before, after = record["from"], record["to"]
        assert LIMITS.min_replicas <= after <= LIMITS.max_replicas
        if after > before:
            assert last_up is None or at - last_up >= LIMITS.cooldown_up_s - 1e-9
            last_up = at
        else:
            assert before - after == 1
            assert all(at - c >= LIMITS.cooldown_down_s - 1e-9 for c in changes)
        changes.append(at)


# -- the wide property: random limits, several workloads, every mode, the kill switch ---------
#
# The whole timeline is drawn up front as one ``Scenario`` value (a few hundred choices, not a
# few hundred ``data.draw`` calls, which cost ten times more each): a thousand examples stay
# well under a minute, and a failure prints as one readable value.

PROFILE_ENV = "CLAUDESCALE_HYPOTHESIS_PROFILE"
"""Picks the Hypothesis profile of the wide property: ``standard`` (``make test``), ``soak``
(``make soak``) or ``quick`` (while editing)."""
EXAMPLES_ENV = "CLAUDESCALE_HYPOTHESIS_EXAMPLES"
"""Overrides the chosen profile's number of examples (a shorter soak, a longer CI run)."""

settings.register_profile(
    "standard",
    max_examples=1_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("soak", settings.get_profile("standard"), max_examples=100_000)
settings.register_profile("quick", settings.get_profile("standard"), max_examples=50)


def wide_profile() -> settings:
    """The profile named by ``CLAUDESCALE_HYPOTHESIS_PROFILE`` (``standard`` when unset), its
    number of examples replaced by ``CLAUDESCALE_HYPOTHESIS_EXAMPLES`` when that is set."""
    profile = settings.get_profile(os.environ.get(PROFILE_ENV, "standard"))
    examples = os.environ.get(EXAMPLES_ENV)
    return settings(profile, max_examples=int(examples)) if examples else profile


WORKLOADS = (
    WorkloadRef("shop", "web"),
    WorkloadRef("shop", "cart"),
    WorkloadRef("shop-prod", "checkout"),  # production: every change is one risk level higher
)
MODES = ("observe", "supervised", "autonomous", "autonomous")
THRESHOLDS_PERCENT = (12.5, 25.0, 37.5, 40.0, 50.0)
"""Scale-down thresholds; all but 40 are exact in binary, so a reading can equal one."""
GAPS = ("none", "half", "up-0.5", "up", "down-0.5", "down", "600", "1800", "hour-0.5")
"""How far the clock moves before a step: relative to the global cooldowns or absolute."""
EVENTS = (
    ("cpu",) * 6
    + ("approve",) * 4
    + (
        "external",
        "write_fails",
        "rollout",
        "kill_switch",
        "unapproved",
        "restart",
    )
)
CPU_CHOICES = ("threshold", "below", "above", "idle", "busy") * 2 + ("none", "stale")
DELTAS = (-3, -2, -1, -1, -1, -1, 0, 1, 1, 1, 1, 2, 3)
VARIANTS = ("coherent",) * 16 + ("scale_up", "scale_down", "hold", "stale", "wild", "wild")
"""How a proposal's action and target are made: ``coherent`` turns a delta that would leave
the bounds around, or else cuts it at them, so that most proposals reach the deeper
guardrails; ``wild`` keeps it; ``stale`` claims to have seen one replica more; the others
force the action whatever the delta."""
SOURCED_REASONS = (
    *((Source.RULES, "cpu is high on ready pods"),) * 5,
    *((Source.RULES, "cpu has been low for ten minutes"),) * 5,
    (Source.MODEL_PROVIDER, "cpu is 85% of requests"),
    (Source.MODEL_SAMPLING, "cpu is 10% of requests"),
    (Source.MCP_CLIENT, "the user asked for it"),
    (Source.RULES, "n/a"),
)
HUMAN = "cli:tester"
EXECUTED = frozenset({"ok", "unknown"})  # an unknown outcome counts as executed for cooldowns
RATE_WINDOW_S = 3600.0
"""The rolling hour of ``max_actions_per_hour``."""
STATE_ROOT = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
"""tmpfs when there is one: the stores fsync, and a thousand examples should not wait on a disk."""


@dataclass(frozen=True, slots=True)
class Step:
    gap: str
    events: tuple[tuple[str, int, int], ...]
    """(what happens, workload index, which value)."""
    proposals: tuple[tuple[int, str, int] | None, ...]
    """Per workload: (replica delta, action variant, index into SOURCED_REASONS), or none."""
    twice: bool
    """The first proposal is sent twice at once, so one finds the other in flight."""


@dataclass(frozen=True, slots=True)
class Scenario:
    workloads: int
    mode: str
    kill_switch: bool
    approval_ttl_s: float
    guardrails: dict[str, Any]
    overrides: tuple[dict[str, Any] | None, ...]
    """Per-workload limits (namespace/name keys of ``workloads`` in the settings)."""
    replicas: tuple[int, ...]
    """Each workload's replicas at the start (``near_bounds``)."""
    cpu: tuple[str, ...]
    """Each workload's CPU at the start, one of CPU_CHOICES."""
    seeds_ago_s: tuple[float | None, ...]
    """An action this long before the start, for both cooldowns (``Executor.seed``)."""
    steps: tuple[Step, ...]


def limit_set(low: int, high: int, rest: tuple[float, float, float, int, int]) -> dict[str, Any]:
    keys = (
        *("cooldown_up_s", "cooldown_down_s", "scale_down_cpu_below_percent"),
        *("max_step_down", "max_actions_per_hour"),
    )
    return {"min_replicas": low, "max_replicas": low + high, **dict(zip(keys, rest, strict=True))}


limit_sets = st.builds(
    limit_set,
    st.integers(1, 4),
    st.sampled_from([2, 3, 1, 4, 2, 3, 0]),
    st.tuples(
        st.sampled_from([0.0, 15.0, 90.0, 150.0]),
        st.sampled_from([0.0, 60.0, 180.0, 300.0]),
        st.sampled_from(THRESHOLDS_PERCENT),
        st.sampled_from([1, 1, 2, 3]),
        st.integers(1, 6),
    ),
)
three = len(WORKLOADS)
workload_index = st.integers(0, three - 1)
specs = st.tuples(
    st.sampled_from(DELTAS), st.sampled_from(VARIANTS), st.integers(0, len(SOURCED_REASONS) - 1)
)
steps = st.builds(
    Step,
    st.sampled_from(GAPS),
    st.lists(st.tuples(st.sampled_from(EVENTS), workload_index, st.integers(0, 9)), max_size=3).map(
        tuple
    ),
    st.tuples(*[st.one_of(st.none(), specs, specs, specs)] * three),
    st.sampled_from([False] * 9 + [True]),
)
scenarios = st.builds(
    Scenario,
    st.integers(1, three),
    st.sampled_from(MODES),
    st.sampled_from([False] * 9 + [True]),
    st.sampled_from([4000.0, 300.0, 60.0]),
    limit_sets,
    st.tuples(*[st.none() | limit_sets] * three),
    st.tuples(*[st.integers(0, 9)] * three),
    st.tuples(*[st.sampled_from(CPU_CHOICES)] * three),
    st.tuples(*[st.sampled_from([None, 0.0, 50.0, 200.0])] * three),
    st.lists(steps, min_size=10, max_size=30).map(tuple),
)


@dataclass(slots=True)
class Submitted:
    """One proposal the test sent, and what the world was like when it did."""

    proposal: Proposal
    gated_off: bool
    """Observe mode or the kill switch was on: nothing may be written for it."""
    verdict: Verdict | None = None


@dataclass(slots=True)
class Run:
    """One example's world, and what the test did in it, for the checks afterwards."""

    harness: Harness[ManualClock, ScriptedCluster]
    refs: tuple[WorkloadRef, ...]
    kill_file: Path
    gaps_s: dict[str, float]
    submitted: dict[str, Submitted] = field(default_factory=dict)
    pending: list[Verdict] = field(default_factory=list)
    writes_while_gated_off: int = 0

    def kill_switch_on(self) -> bool:
        return self.harness.settings.approvals.kill_switch or self.kill_file.exists()

    def gated_off(self) -> bool:
        return self.kill_switch_on() or self.harness.settings.mode is Mode.OBSERVE

    def writes(self) -> int:
        return sum(len(self.harness.workload(ref).writes) for ref in self.refs)

    def ref(self, index: int) -> WorkloadRef:
        return self.refs[index % len(self.refs)]

    def next_id(self, proposals: list[Proposal]) -> str:
        return f"p{len(self.submitted) + len(proposals)}"


def build_run(scenario: Scenario, directory: Path) -> Run:
    refs = WORKLOADS[: scenario.workloads]
    kill_file = directory / "kill-switch"
    harness = Harness.scripted(
        directory,
        mode=scenario.mode,
        cpu=None,
        refs=refs,
        guardrails=scenario.guardrails,
        workloads={
            str(ref): limits
            for ref, limits in zip(refs, scenario.overrides, strict=False)
            if limits is not None
        },
        approvals={
            "kill_switch": scenario.kill_switch,
            "kill_switch_file": str(kill_file),
            "token_ttl_s": scenario.approval_ttl_s,
            "production_token_ttl_s": scenario.approval_ttl_s,
        },
    )
    for ref, replicas, cpu in zip(refs, scenario.replicas, scenario.cpu, strict=False):
        harness.workload(ref).replicas = near_bounds(harness, ref, replicas)
        set_cpu(harness, ref, cpu)
    up_s = harness.settings.guardrails.cooldown_up_s
    down_s = harness.settings.guardrails.cooldown_down_s
    gaps_s = {
        "none": 0.0,
        "half": 0.5,
        "up-0.5": max(0.0, up_s - 0.5),
        "up": up_s,
        "down-0.5": max(0.0, down_s - 0.5),
        "down": down_s,
        "600": 600.0,
        "1800": 1800.0,
        "hour-0.5": RATE_WINDOW_S - 0.5,
    }
    return Run(harness, refs, kill_file, gaps_s)


def near_bounds(
    harness: Harness[ManualClock, ScriptedCluster], ref: WorkloadRef, value: int
) -> int:
    """A replica count for ``value`` in 0..9: mostly inside the workload's bounds, sometimes
    one outside them (someone else set it), never 0 (which means paused)."""
    limits = harness.settings.limits_for(ref)
    if value == 8:
        return max(1, limits.min_replicas - 1)
    if value == 9:
        return limits.max_replicas + 1
    return min(limits.max_replicas, limits.min_replicas + value)


def set_cpu(harness: Harness[ManualClock, ScriptedCluster], ref: WorkloadRef, choice: str) -> None:
    """Every pod of ``ref`` at a CPU named relative to its scale-down threshold."""
    threshold = harness.settings.limits_for(ref).scale_down_cpu_below_percent
    values = {"below": threshold - 6.25, "above": threshold + 6.25, "idle": 0.0, "busy": 95.0}
    workload = harness.workload(ref)
    workload.cpu_percent = None if choice == "none" else values.get(choice, threshold)
    workload.cpu_age_s = 300.0 if choice == "stale" else 0.0


def happen(run: Run, what: str, ref: WorkloadRef, value: int, proposals: list[Proposal]) -> bool:
    """One event of a step; True when it is a restart (the caller ends the process)."""
    harness = run.harness
    workload = harness.workload(ref)
    if what == "cpu":
        set_cpu(harness, ref, CPU_CHOICES[value % len(CPU_CHOICES)])
    elif what == "external":
        harness.cluster.set_replicas_externally(ref, near_bounds(harness, ref, value))
    elif what == "write_fails":
        workload.fail_next_write = (409, 500, 404)[value % 3]
    elif what == "rollout":  # for this step only
        workload.rollout_in_progress = True
        harness.cluster.touch(ref)
    elif what == "kill_switch":
        if run.kill_file.exists():
            run.kill_file.unlink()
        else:
            run.kill_file.write_text('{"actor": "cli:tester"}')
    elif what in ("approve", "unapproved") and run.pending:
        pending = run.pending.pop(value % len(run.pending))
        approve = what == "approve"
        proposals.extend(
            carry_out(run, pending, approve=approve, proposal_id=run.next_id(proposals))
        )
    return what == "restart"


def carry_out(run: Run, pending: Verdict, *, approve: bool, proposal_id: str) -> list[Proposal]:
    """A person approves a pending change and it is submitted with its approval; or someone
    submits it with the approval nobody granted."""
    approvals = run.harness.approvals
    approval = approvals.get(pending.approval_id)
    if approval is None:
        return []
    if approve:
        approvals.approve(approval.id, actor=HUMAN)
    return [
        Proposal(
            WorkloadRef.parse(approval.workload),
            Action(approval.action),
            approval.to_replicas,
            approval.reason,
            Source(approval.source),
            from_replicas=approval.from_replicas,
            actor=approval.actor,
            proposal_id=proposal_id,
            approval_id=approval.id,
        )
    ]


def proposal(run: Run, ref: WorkloadRef, spec: tuple[int, str, int], proposal_id: str) -> Proposal:
    delta, variant, sourced_reason = spec
    replicas = run.harness.workload(ref).replicas
    limits = run.harness.settings.limits_for(ref)
    low, high = limits.min_replicas, limits.max_replicas
    if variant != "wild" and not low <= replicas + delta <= high:
        delta = (
            -delta
            if low <= replicas - delta <= high
            else min(high, max(low, replicas + delta)) - replicas
        )
    coherent = Action.SCALE_UP if delta > 0 else Action.SCALE_DOWN if delta < 0 else Action.HOLD
    source, reason = SOURCED_REASONS[sourced_reason]
    return Proposal(
        ref,
        Action(variant) if variant in {a.value for a in Action} else coherent,
        replicas + delta,
        reason,
        source,
        from_replicas=replicas + 1 if variant == "stale" else replicas,
        proposal_id=proposal_id,
    )


async def play_step(run: Run, executor: Executor, step: Step) -> bool:
    """One step: move the clock, change the world, submit at once; True means restart."""
    run.harness.clock.advance(run.gaps_s[step.gap])
    proposals: list[Proposal] = []
    restart = False
    for what, index, value in step.events:
        restart = happen(run, what, run.ref(index), value, proposals) or restart
    for ref, spec in zip(run.refs, step.proposals, strict=False):
        if spec is not None:
            proposals.append(proposal(run, ref, spec, run.next_id(proposals)))
    if step.twice and proposals:
        proposals.append(replace(proposals[0], proposal_id=run.next_id(proposals)))
    gated_off = run.gated_off()
    writes_before = run.writes()
    items = [Submitted(p, gated_off) for p in proposals]
    run.submitted.update((item.proposal.proposal_id, item) for item in items)

    async def submit(item: Submitted) -> None:
        item.verdict = await executor.submit(item.proposal)

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(submit, item)
    if gated_off:
        run.writes_while_gated_off += run.writes() - writes_before
    for item in items:
        if item.verdict is not None and item.verdict.outcome is Outcome.PENDING:
            run.pending.append(item.verdict)
    for ref in run.refs:
        if run.harness.workload(ref).rollout_in_progress:
            run.harness.workload(ref).rollout_in_progress = False
            run.harness.cluster.touch(ref)
    return restart


async def play(run: Run, scenario: Scenario) -> None:
    remaining = list(scenario.steps)
    first = True
    while remaining:
        async with run.harness.running() as executor:  # a second block is a restart
            if first:
                first = False
                for ref, ago_s in zip(run.refs, scenario.seeds_ago_s, strict=False):
                    if ago_s is not None:
                        executor.seed(ref, run.harness.clock.now() - ago_s)
            while remaining and not await play_step(run, executor, remaining.pop(0)):
                pass


@wide_profile()
@given(scenarios)
def test_no_limits_mode_or_mix_of_workloads_lets_the_executor_break_a_guardrail(
    scenario: Scenario,
) -> None:
    with tempfile.TemporaryDirectory(dir=STATE_ROOT) as tmp:
        run = build_run(scenario, Path(tmp))
        anyio.run(play, run, scenario)
        result = verify(run.harness.audit_path)
        assert result.ok, result.message
        records = run.harness.records()

    executed = sum(1 for r in records if r["kind"] == "outcome" and r["code"] in EXECUTED)
    event(f"{scenario.mode}: {min(executed, 5)}{'+' if executed >= 5 else ''} executed")
    for code in sorted({r["code"] for r in records if r["kind"] == "verdict"}):
        event(f"verdict code {code}")
    assert_every_proposal_has_exactly_one_verdict(run, records)
    assert_every_intent_has_exactly_one_outcome(records)
    assert_the_guardrails_held(run, records)
    assert_nothing_was_written_while_gated_off(run, records)
    assert_every_write_needing_a_human_was_approved_first(run, records)
    assert_the_cluster_saw_exactly_the_audited_writes(run, records)


def assert_every_proposal_has_exactly_one_verdict(run: Run, records: list[dict[str, Any]]) -> None:
    verdicts = Counter(r["proposal_id"] for r in records if r["kind"] == "verdict")
    proposals = Counter(r["proposal_id"] for r in records if r["kind"] == "proposal")
    assert verdicts == proposals == Counter(list(run.submitted))
    recorded = {r["proposal_id"]: r["code"] for r in records if r["kind"] == "verdict"}
    for proposal_id, item in run.submitted.items():
        assert item.verdict is not None
        assert item.verdict.code.value == recorded[proposal_id], f"{proposal_id} answered twice"


def assert_every_intent_has_exactly_one_outcome(records: list[dict[str, Any]]) -> None:
    intents = {r["intent_id"]: r["seq"] for r in records if r["kind"] == "intent"}
    outcomes = Counter(r["intent_id"] for r in records if r["kind"] == "outcome")
    assert outcomes == Counter(list(intents))
    for record in records:
        if record["kind"] == "outcome":
            assert record["seq"] > intents[record["intent_id"]], "an outcome before its intent"


def assert_the_guardrails_held(run: Run, records: list[dict[str, Any]]) -> None:
    """Bounds, both cooldowns, the scale-down step and threshold, and the hourly rate, per
    workload, from the audit log's executed actions and the manual clock's times (the clock
    stands still within a step, so an action happens at the time it was evaluated)."""
    evaluations = {r["proposal_id"]: r for r in records if r["kind"] == "evaluation"}
    intents = {r["intent_id"]: r for r in records if r["kind"] == "intent"}
    for ref in run.refs:
        limits = run.harness.settings.limits_for(ref)
        last_up_at: float | None = None
        last_change_at: float | None = None
        executed_at: list[float] = []
        for record in records:
            if record.get("workload") != str(ref):
                continue
            kind, at, seq = record["kind"], record["mono"], record["seq"]
            if kind == "evaluation":
                assert record["limits"] == limits.model_dump(mode="json"), f"{seq}: wrong limits"
            elif kind == "seeded":
                last_up_at, last_change_at = record["last_scale_up_at"], record["last_change_at"]
            elif kind == "external_change":
                last_change_at = at
            elif kind == "outcome" and record["code"] in EXECUTED:
                before, after = record["from"], record["to"]
                assert limits.min_replicas <= after <= limits.max_replicas, f"{seq}: out of bounds"
                if after > before:
                    since_up_s = math.inf if last_up_at is None else at - last_up_at
                    assert since_up_s >= limits.cooldown_up_s, f"{seq}: up-cooldown broken"
                    last_up_at = at
                else:
                    # One replica with the default step of 1; never more than the step.
                    assert 1 <= before - after <= limits.max_step_down, f"{seq}: step too large"
                    since_change_s = math.inf if last_change_at is None else at - last_change_at
                    assert since_change_s >= limits.cooldown_down_s, f"{seq}: down-cooldown broken"
                    reading = evaluations[intents[record["intent_id"]]["proposal_id"]]["reading"]
                    percent = reading["percent"] if reading is not None else None
                    assert isinstance(percent, float), f"{seq}: scale-down without a reading"
                    assert percent < limits.scale_down_cpu_below_percent, f"{seq}: cpu {percent}"
                last_change_at = at
                executed_at.append(at)
                in_the_hour = [t for t in executed_at if at - t < RATE_WINDOW_S]
                assert len(in_the_hour) <= limits.max_actions_per_hour, f"{seq}: rate broken"


def assert_nothing_was_written_while_gated_off(run: Run, records: list[dict[str, Any]]) -> None:
    assert run.writes_while_gated_off == 0
    for record in records:
        if record["kind"] == "intent":
            assert not run.submitted[record["proposal_id"]].gated_off
    if run.harness.settings.mode is Mode.OBSERVE or run.harness.settings.approvals.kill_switch:
        assert run.writes() == 0


def assert_every_write_needing_a_human_was_approved_first(
    run: Run, records: list[dict[str, Any]]
) -> None:
    """In supervised mode every write, and in any mode every write carrying an approval or
    asked for through a person's tool, follows a person's grant and a single use of it."""
    granted: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    written: set[str] = set()
    for record in records:
        kind = record["kind"]
        if kind == "approval_granted" and record["actor"].startswith(("cli:", "user:")):
            granted[record["approval_id"]] = record
        elif kind == "approval_used":
            used.add(record["approval_id"])
        elif kind == "intent":
            proposal = run.submitted[record["proposal_id"]].proposal
            approval_id = record["approval_id"]
            if not approval_id:
                assert run.harness.settings.mode is not Mode.SUPERVISED
                assert proposal.source not in HUMAN_SOURCES
                continue
            assert approval_id == proposal.approval_id
            assert approval_id in used, f"intent {record['seq']}: its approval was not used up"
            assert approval_id not in written, f"intent {record['seq']}: approval used twice"
            written.add(approval_id)
            grant = granted.get(approval_id)
            assert grant is not None, f"intent {record['seq']}: no person granted {approval_id}"
            assert (grant["workload"], grant["from"], grant["to"]) == (
                record["workload"],
                record["from"],
                record["to"],
            )


def assert_the_cluster_saw_exactly_the_audited_writes(
    run: Run, records: list[dict[str, Any]]
) -> None:
    for ref in run.refs:
        audited = [
            (r["from"], r["to"])
            for r in records
            if r["kind"] == "outcome" and r["workload"] == str(ref) and r["code"] == "ok"
        ]
        assert run.harness.workload(ref).writes == audited
