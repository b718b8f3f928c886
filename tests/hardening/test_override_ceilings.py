"""Emergency overrides stay within ceilings the operator sets in the settings file: refused at
start with one line naming the key, and checked again each time they would apply, so an
override file edited by hand past a ceiling is skipped and audited; '*' needs the settings'
permission; the critical patterns and the guardrails without a ceiling only ever tighten."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudescale.cli.override_cmd import override_store, start_override
from claudescale.control.overrides import OverrideStore
from claudescale.core.limits import DEFAULT_CRITICAL_PATTERNS, Limits
from claudescale.core.override_ceilings import KNOWN_FIELDS, OverrideCeilings, override_problem
from claudescale.core.values import Code
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import REF, Harness, down, up

HOUR_S = 3600.0


def start(overrides: OverrideStore, ceilings: OverrideCeilings, **values: Any) -> None:
    overrides.start(
        **{
            "workload": "shop/web",
            "changes": {"max_replicas": 8},
            "who": "cli:alice",
            "why": "black friday traffic",
            "duration_s": 600.0,
            "max_duration_s": HOUR_S,
            "ceilings": ceilings,
            "base": Limits(),
            **values,
        }
    )


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"changes": {"max_replicas": 100_000}}, "overrides.max_replicas_ceiling=10"),
        ({"changes": {"cooldown_up_s": 0}}, "overrides.min_cooldown_up_s=30"),
        ({"changes": {"cooldown_down_s": 0}}, "overrides.min_cooldown_down_s=60"),
        ({"changes": {"max_step_down": 2}}, "overrides.max_step_down_ceiling=1"),
        (
            {"changes": {"scale_down_cpu_below_percent": 100_000}},
            "overrides.max_cpu_threshold_percent=50",
        ),
        ({"changes": {"critical_patterns": []}}, "critical_patterns: an override may add"),
        ({"changes": {"critical_allow": ["shop/redis"]}}, "critical_allow: an override may not"),
        ({"changes": {"reason_max_chars": 100_000}}, "reason_max_chars: an override may only"),
        ({"changes": {"cpu_percent_ceiling": 1e9}}, "cpu_percent_ceiling: an override may only"),
        ({"changes": {"metric_max_age_s": 3600}}, "metric_max_age_s: an override may only"),
        ({"changes": {"max_actions_per_hour": 1000}}, "max_actions_per_hour: an override may"),
        ({"workload": "*"}, "overrides.allow_every_workload: true"),
    ],
)
def test_an_override_beyond_the_settings_ceilings_is_refused_at_start_naming_the_key(
    tmp_path: Path, values: dict[str, Any], named: str
) -> None:
    overrides = OverrideStore(tmp_path / "overrides.json", ManualClock())
    with pytest.raises(ValueError) as refused:
        start(overrides, OverrideCeilings(), **values)
    assert named in str(refused.value) and "\n" not in str(refused.value)
    assert overrides.list(include_inactive=True) == []


def test_within_the_ceilings_or_tightening_an_override_is_accepted(tmp_path: Path) -> None:
    overrides = OverrideStore(tmp_path / "overrides.json", ManualClock())
    ceilings = OverrideCeilings(allow_every_workload=True, max_step_down_ceiling=2)
    start(overrides, ceilings, changes={"max_replicas": 10, "cooldown_up_s": 30})
    start(overrides, ceilings, changes={"critical_patterns": [*DEFAULT_CRITICAL_PATTERNS, "web"]})
    start(overrides, ceilings, changes={"reason_max_chars": 100, "metric_max_age_s": 30})
    start(overrides, ceilings, workload="*", changes={"max_step_down": 2})
    assert len(overrides.list()) == 4


def test_every_guardrail_has_a_known_direction_so_a_new_one_is_refused_until_it_does() -> None:
    assert set(Limits.model_fields) == KNOWN_FIELDS
    assert override_problem({}, Limits(), OverrideCeilings(), every_workload=False) is None


def cli_args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"all": False, "duration": "30m", "why": "incident 7", **values})


@pytest.mark.parametrize(
    ("workload", "changes", "named"),
    [
        ("*", ["max_replicas=7"], "overrides.allow_every_workload"),
        ("shop/web", ["max_replicas=100000"], "overrides.max_replicas_ceiling"),
        ("shop/web", ["max_step_down=3"], "overrides.max_step_down_ceiling"),
        ("shop/web", ["max_replicas_ceiling=100"], "max_replicas_ceiling: unknown key"),
    ],
)
def test_the_cli_refuses_an_override_past_the_ceilings_in_one_line_naming_the_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    workload: str,
    changes: list[str],
    named: str,
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous")
    context = w.cli_context()
    status = start_override(cli_args(workload=workload, changes=changes), context)
    out = capsys.readouterr().out
    assert status == 1 and out.count("\n") == 1 and named in out, out
    assert override_store(context).list(include_inactive=True) == []


async def test_settings_that_allow_every_workload_and_a_larger_step_let_an_override_use_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ceilings = {"allow_every_workload": True, "max_step_down_ceiling": 2}
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=5, cpu=10.0, overrides=ceilings)
    status = start_override(cli_args(workload="*", changes=["max_step_down=2"]), w.cli_context())
    assert status == 0, capsys.readouterr().out
    async with w.running() as executor:
        verdict = await executor.submit(down(3, 5))
    assert verdict.code is Code.OK and w.workload().replicas == 3


def edit_by_hand(path: Path, **fields: Any) -> None:
    document = orjson.loads(path.read_bytes())
    for record in document["overrides"]:
        record.update(fields)
    path.write_bytes(orjson.dumps(document))


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ({"changes": {"max_replicas": 100_000}}, "overrides.max_replicas_ceiling"),
        ({"workload": "*"}, "overrides.allow_every_workload"),
        ({"changes": {"max_replicas": 8, "critical_patterns": []}}, "critical_patterns"),
        ({"expires_at": 1e12}, "approvals.override_max_s"),
    ],
)
async def test_an_override_file_edited_past_the_ceilings_is_skipped_and_audited(
    tmp_path: Path, edit: dict[str, Any], named: str
) -> None:
    w = Harness.scripted(tmp_path, mode="autonomous", replicas=5, guardrails={"cooldown_up_s": 0})
    status = start_override(
        cli_args(workload="shop/web", changes=["max_replicas=8"]), w.cli_context()
    )
    assert status == 0
    edit_by_hand(w.state_dir / "overrides.json", **edit)
    async with w.running() as executor:
        verdict = await executor.submit(up(6, 5))
    assert verdict.code is Code.ABOVE_MAX and w.workload().writes == []
    (skipped,) = w.records("override_skipped")
    assert named in skipped["error"] and str(REF) in skipped["error"]
    assert w.records("override_used") == []
