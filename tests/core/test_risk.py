"""Risk assessment and the mode gate, as pure functions: every level, every pattern, every
setting, every mode."""

from __future__ import annotations

from typing import Any

import pytest

from claudescale.core.limits import Limits
from claudescale.core.modes import GateDecision, decide
from claudescale.core.risk import (
    Change,
    Risk,
    RiskLevel,
    RiskSettings,
    assess,
    is_production,
    recent_actions,
)
from claudescale.core.values import History, Source, WorkloadRef

DEFAULTS = RiskSettings()
LIMITS = Limits()


def level(
    namespace: str = "shop",
    name: str = "web",
    before: int = 4,
    after: int = 5,
    recent: int = 0,
    settings: RiskSettings = DEFAULTS,
    limits: Limits = LIMITS,
) -> RiskLevel:
    return assess(
        Change(WorkloadRef(namespace, name), before, after), settings, limits, recent
    ).level


def test_a_one_replica_step_on_a_big_workload_is_low_risk() -> None:
    assert level(before=4, after=5) is RiskLevel.LOW  # 25 %, under the 30 % threshold
    assert level(before=5, after=4) is RiskLevel.LOW  # 20 %


def test_a_quarter_of_the_replicas_or_two_replicas_is_medium_risk() -> None:
    assert level(before=3, after=4) is RiskLevel.MEDIUM  # 33 %
    assert level(before=10, after=12) is RiskLevel.MEDIUM  # 2 replicas, 20 %


def test_doubling_or_three_replicas_at_once_is_high_risk() -> None:
    assert level(before=2, after=4) is RiskLevel.HIGH  # 100 %
    assert level(before=10, after=13) is RiskLevel.HIGH  # 3 replicas, 30 %
    assert level(before=20, after=17) is RiskLevel.HIGH  # down counts as much as up


def test_a_critical_name_is_critical_whatever_the_size_and_says_if_allow_listed() -> None:
    ref = WorkloadRef("data", "redis-cache")
    blocked = assess(Change(ref, 4, 5), DEFAULTS, LIMITS, 0)
    allowed = assess(Change(ref, 4, 5), DEFAULTS, Limits(critical_allow=("data/redis-cache",)), 0)
    assert (blocked.level, blocked.critical_pattern, blocked.critical_allowed) == (
        RiskLevel.CRITICAL,
        "redis",
        False,
    )
    assert (allowed.level, allowed.critical_allowed) == (RiskLevel.CRITICAL, True)


@pytest.mark.parametrize(
    "pattern", ["postgres", "mysql", "redis", "controller", "operator", "etcd"]
)
def test_every_default_critical_pattern_makes_a_workload_critical(pattern: str) -> None:
    assert level(name=f"shop-{pattern.upper()}-0") is RiskLevel.CRITICAL
    assert level(name="web") is RiskLevel.LOW


@pytest.mark.parametrize("namespace", ["prod", "production", "live", "main"])
def test_every_default_production_pattern_raises_the_risk_one_level(namespace: str) -> None:
    assert level(namespace=namespace, before=4, after=5) is RiskLevel.MEDIUM
    assert level(namespace=namespace, before=3, after=4) is RiskLevel.HIGH
    assert level(namespace=f"shop-{namespace}", before=4, after=5) is RiskLevel.MEDIUM


def test_production_patterns_match_whole_parts_not_substrings_or_globs() -> None:
    patterns = ("prod", "eu-*")
    assert is_production("shop-prod", patterns)
    assert is_production("prod.shop", patterns)
    assert is_production("PROD", patterns)
    assert is_production("eu-west", patterns)
    assert not is_production("products", patterns)
    assert not is_production("preprod", patterns)
    assert not is_production("us-east", patterns)


def test_production_never_raises_a_change_to_critical() -> None:
    assert level(namespace="prod", before=2, after=5) is RiskLevel.HIGH


def test_recent_actions_raise_the_risk() -> None:
    assert level(recent=2) is RiskLevel.LOW
    assert level(recent=3) is RiskLevel.MEDIUM
    assert level(recent=6) is RiskLevel.HIGH


def test_recent_actions_are_counted_in_the_window_only() -> None:
    history = History(action_times=(100.0, 500.0, 900.0, 990.0))
    assert recent_actions(history, now=1000.0, window_s=600.0) == 3
    assert recent_actions(history, now=1000.0, window_s=50.0) == 1


def test_reasons_name_every_factor_that_raised_the_level() -> None:
    risk = assess(Change(WorkloadRef("prod", "web"), 2, 4), DEFAULTS, LIMITS, 7)
    assert risk.level is RiskLevel.HIGH and risk.production
    assert len(risk.reasons) == 3
    assert "2→4" in risk.reasons[0] and "7 actions" in risk.reasons[1]
    assert "production" in risk.reasons[2]


# Every risk setting is read: changing it alone changes an answer.
SETTING_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "production_namespaces": ({"production_namespaces": ("shop",)}, {}),
    "medium_change_percent": ({"medium_change_percent": 20.0}, {"before": 5, "after": 4}),
    "high_change_percent": ({"high_change_percent": 30.0}, {"before": 3, "after": 4}),
    "medium_change_replicas": ({"medium_change_replicas": 1}, {"before": 5, "after": 4}),
    "high_change_replicas": (
        {"high_change_replicas": 1, "medium_change_replicas": 1},
        {"before": 5, "after": 4},
    ),
    "medium_recent_actions": ({"medium_recent_actions": 1}, {"recent": 1}),
    "high_recent_actions": ({"high_recent_actions": 2, "medium_recent_actions": 1}, {"recent": 2}),
}


@pytest.mark.parametrize("key", sorted(SETTING_CASES))
def test_every_risk_setting_changes_the_assessment(key: str) -> None:
    changed, change = SETTING_CASES[key]
    args: dict[str, Any] = {"before": 4, "after": 5, **change}
    assert level(**args) != level(**args, settings=RiskSettings(**changed))


def test_the_frequency_window_setting_is_read() -> None:
    history = History(action_times=(0.0, 10.0, 20.0))
    short = RiskSettings(frequency_window_s=15.0)
    assert recent_actions(history, 25.0, DEFAULTS.frequency_window_s) == 3
    assert recent_actions(history, 25.0, short.frequency_window_s) == 1


def test_every_risk_setting_is_covered_by_a_test() -> None:
    covered = set(SETTING_CASES) | {"frequency_window_s"}
    assert covered == set(RiskSettings.model_fields)


def test_the_critical_patterns_and_allow_list_come_from_the_guardrail_limits() -> None:
    custom = Limits(critical_patterns=("billing",), critical_allow=())
    assert level(name="billing-api", limits=custom) is RiskLevel.CRITICAL
    assert level(name="redis", limits=custom) is RiskLevel.LOW


def test_inverted_thresholds_are_refused_naming_both() -> None:
    with pytest.raises(ValueError, match="medium_change_percent"):
        RiskSettings(medium_change_percent=200.0)


# The gate.

LOW = Risk(RiskLevel.LOW, ())
HIGH = Risk(RiskLevel.HIGH, ("2→5",))
CRITICAL = Risk(RiskLevel.CRITICAL, ("redis",), critical_pattern="redis")
CRITICAL_ALLOWED = Risk(
    RiskLevel.CRITICAL, ("redis",), critical_pattern="redis", critical_allowed=True
)


@pytest.mark.parametrize(
    ("mode", "risk", "source", "approved", "expected"),
    [
        ("observe", LOW, Source.RULES, False, GateDecision.DRY_RUN),
        ("observe", LOW, Source.RULES, True, GateDecision.DRY_RUN),
        ("supervised", LOW, Source.RULES, False, GateDecision.APPROVAL_REQUIRED),
        ("supervised", LOW, Source.MODEL_SAMPLING, False, GateDecision.APPROVAL_REQUIRED),
        ("supervised", LOW, Source.RULES, True, GateDecision.PROCEED),
        ("autonomous", LOW, Source.RULES, False, GateDecision.PROCEED),
        ("autonomous", LOW, Source.MODEL_PROVIDER, False, GateDecision.PROCEED),
        ("autonomous", HIGH, Source.RULES, False, GateDecision.APPROVAL_REQUIRED),
        ("autonomous", HIGH, Source.RULES, True, GateDecision.PROCEED),
        ("autonomous", LOW, Source.MCP_CLIENT, False, GateDecision.APPROVAL_REQUIRED),
        ("autonomous", LOW, Source.CLI, False, GateDecision.APPROVAL_REQUIRED),
        ("autonomous", LOW, Source.ROLLBACK, False, GateDecision.APPROVAL_REQUIRED),
        ("autonomous", CRITICAL, Source.RULES, True, GateDecision.CRITICAL_WORKLOAD),
        ("autonomous", CRITICAL_ALLOWED, Source.RULES, False, GateDecision.APPROVAL_REQUIRED),
        ("autonomous", CRITICAL_ALLOWED, Source.RULES, True, GateDecision.PROCEED),
    ],
)
def test_the_gate_decides_by_mode_risk_source_and_approval(
    mode: str, risk: Risk, source: Source, approved: bool, expected: GateDecision
) -> None:
    result = decide(mode, kill_switch=False, risk=risk, source=source, approved=approved)
    assert result.decision is expected
    assert result.why


@pytest.mark.parametrize("mode", ["observe", "supervised", "autonomous"])
def test_the_kill_switch_makes_every_mode_a_dry_run_even_when_approved(mode: str) -> None:
    result = decide(mode, kill_switch=True, risk=LOW, source=Source.RULES, approved=True)
    assert result.decision is GateDecision.DRY_RUN
    assert "kill switch" in result.why


def test_an_unknown_mode_is_an_error_not_a_permission() -> None:
    with pytest.raises(ValueError, match="Unknown mode"):
        decide("yolo", kill_switch=False, risk=LOW, source=Source.RULES, approved=False)


# Issue 9, point 7: risk is judged by what a change does, not by a percentage of a small count.


def test_restoring_the_minimum_from_one_replica_is_low_risk() -> None:
    assert level(before=1, after=2) is RiskLevel.LOW  # 100 %, but it only restores min 2
    assert level(before=1, after=3, limits=Limits(min_replicas=3)) is RiskLevel.MEDIUM  # 2 replicas
    assert level(before=2, after=3, limits=Limits(min_replicas=3)) is RiskLevel.LOW


def test_one_replica_up_from_the_minimum_is_low_risk() -> None:
    assert level(before=2, after=3) is RiskLevel.LOW  # 50 %, one up from min 2
    assert level(before=1, after=2, limits=Limits(min_replicas=1)) is RiskLevel.LOW


def test_percentage_thresholds_still_apply_above_small_counts() -> None:
    assert level(before=3, after=4) is RiskLevel.MEDIUM  # 33 %, above min + 1
    assert level(before=2, after=4) is RiskLevel.HIGH  # 100 %, two up from the minimum
    assert level(before=1, after=3) is RiskLevel.MEDIUM  # two replicas at once
    assert level(before=3, after=2) is RiskLevel.MEDIUM  # scale-downs keep the percentages


def test_a_small_restoring_change_is_still_raised_by_production_and_frequency() -> None:
    assert level(namespace="prod", before=1, after=2) is RiskLevel.MEDIUM
    assert level(before=1, after=2, recent=6) is RiskLevel.HIGH
