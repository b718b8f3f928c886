"""Invariants of the executor over random timelines (hypothesis).

Whatever the proposals, clocks, restarts, write failures and external changes: replicas never
leave the bounds because of us, no two scale-ups within the up-cooldown, no scale-down within
the down-cooldown of any change, scale-downs move one replica and only below the CPU
threshold, every proposal has exactly one verdict record, and the audit chain verifies.
Each drawn step is a replay step, so any failure hypothesis finds reads as a replay file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from claudescale.audit import iter_records, verify
from claudescale.core.limits import Limits
from claudescale.replay.runner import ReplayRun
from claudescale.replay.scenario import parse_scenario

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
    start = {
        "replicas": data.draw(st.integers(2, 5)),
        "last_action_ago_s": data.draw(st.sampled_from([None, 0, 50, 200])),
    }
    n_steps = data.draw(st.integers(4, 30))
    lines: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory() as tmp:
        audit_path = Path(tmp) / "audit.jsonl"

        async def play() -> None:
            first = draw_step(data, 0.0, int(start["replicas"]))  # type: ignore[call-overload]
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
