"""Replay files as tests: each case's output must equal its golden file, the audit chain must
verify, and every proposal must have exactly one verdict record."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from claudescale.audit import iter_records, verify
from claudescale.replay.runner import ReplayRun
from claudescale.replay.scenario import load_scenario, parse_scenario

CASES = Path(__file__).parent / "cases"
EXAMPLES = Path(__file__).parents[2] / "examples"
CASE_FILES = sorted(CASES.glob("*.yaml"))
# Cases that keep their whole audit log (one deliberately loses it across a restart).
DURABLE_CASES = [c for c in CASE_FILES if "durable_state: false" not in c.read_text()]


def run_replay(path: Path, audit_path: Path) -> list[dict[str, Any]]:
    run = ReplayRun(load_scenario(path), audit_path)
    return anyio.run(run.run, lambda line: None)


def expected_lines(path: Path) -> list[dict[str, Any]]:
    golden = path.with_suffix("").with_suffix(".expected.jsonl")
    return [orjson.loads(line) for line in golden.read_text().splitlines() if line.strip()]


def test_every_case_has_a_golden_file() -> None:
    assert len(CASE_FILES) >= 10
    for case in CASE_FILES:
        assert case.with_suffix("").with_suffix(".expected.jsonl").exists(), case


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: p.stem)
def test_replay_case_matches_its_golden_output(case: Path, tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    assert run_replay(case, audit_path) == expected_lines(case)
    result = verify(audit_path)
    assert result.ok, result.message


@pytest.mark.parametrize("case", DURABLE_CASES, ids=lambda p: p.stem)
def test_every_proposal_has_exactly_one_verdict_record(case: Path, tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    lines = run_replay(case, audit_path)
    records = list(iter_records(audit_path))
    proposals = [r for r in records if r["kind"] == "proposal"]
    verdicts = [r for r in records if r["kind"] == "verdict"]
    assert len(proposals) == len(verdicts) == len(lines)
    assert Counter(v["code"] for v in verdicts) == Counter(line["code"] for line in lines)


def test_every_executed_action_has_a_durable_intent_before_its_outcome(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.jsonl"
    run_replay(CASES / "cooldown-up.yaml", audit_path)
    records = list(iter_records(audit_path))
    intents = {r["intent_id"]: r["seq"] for r in records if r["kind"] == "intent"}
    outcomes = [r for r in records if r["kind"] == "outcome"]
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert intents[outcome["intent_id"]] < outcome["seq"]


def test_the_example_in_the_readme_runs(tmp_path: Path) -> None:
    lines = run_replay(EXAMPLES / "replay-cooldowns.yaml", tmp_path / "audit.jsonl")
    codes = [line["code"] for line in lines]
    assert codes == [
        "ok",
        "cooldown_up",
        "ok",
        "above_max",
        "cooldown_down",
        "ok",
        "busy",
        "step_too_large",
        "cpu_not_below_threshold",
        "invalid_proposal",
    ]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claudescale.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_replay_command_prints_one_json_line_per_proposal() -> None:
    case = CASES / "writes.yaml"
    done = cli("replay", str(case))
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(line) for line in done.stdout.splitlines()] == expected_lines(case)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("steps:\n  - {t: 0, cpu: 85, bogus: 1}\n", "steps.0.bogus"),
        ("steps:\n  - {t: 5}\n  - {t: 1}\n", "steps"),
        ("steps:\n  - {t: 0, cpu: lots}\n", "steps.0.cpu"),
        ("start: {replicas: -1}\nsteps: [{t: 0}]\n", "start.replicas"),
        (
            "steps:\n  - {t: 0, propose: {action: grow, target_replicas: 4, reason: x}}\n",
            "steps.0.propose.action",
        ),
        ("settings: {guardrails: {min_replicas: 9}}\nsteps: [{t: 0}]\n", "settings.guardrails"),
        (
            "steps:\n  - {t: 0, propose: {action: scale_up, target_replicas: '4', reason: x}}\n",
            "steps.0.propose.target_replicas",
        ),
        ("steps:\n  - {t: 0, write_fails: 200}\n", "steps.0.write_fails"),
        ("steps: [{t: 0}\n", "not valid YAML"),
        ("workload: {namespace: shop}\n", "steps"),
    ],
)
def test_a_bad_replay_file_exits_2_with_one_line_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = cli("replay", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert named in lines[0]


def test_a_missing_replay_file_is_a_one_line_error(tmp_path: Path) -> None:
    done = cli("replay", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cpu_accepts_every_documented_form() -> None:
    scenario = parse_scenario(
        {
            "steps": [
                {"t": 0, "cpu": 85},
                {"t": 1, "cpu": "NaN"},
                {"t": 2, "cpu": "+Inf"},
                {"t": 3, "cpu": None},
                {"t": 4, "cpu": {"value": 20, "age_s": 180}},
            ]
        }
    )
    values = [step.cpu.value if step.cpu else "absent" for step in scenario.steps]
    assert values[0] == 85.0 and values[3] is None
    assert str(values[1]) == "nan" and values[2] == float("inf")
    assert scenario.steps[4].cpu is not None and scenario.steps[4].cpu.age_s == 180
