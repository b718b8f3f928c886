"""Limits from settings and annotations: annotations may only tighten."""

from __future__ import annotations

import pytest

from claudescale.core.limits import Limits, annotation_overrides, tightened


def test_annotations_are_read_as_guardrail_keys() -> None:
    annotations = {
        "claudescale.io/max-replicas": "4",
        "claudescale.io/paused": "false",
        "claudescale.io/enabled": "true",
        "other.io/x": "1",
    }
    assert annotation_overrides(annotations) == (("max_replicas", "4"),)


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("max_replicas", "4", "max_replicas", 4),
        ("min_replicas", "3", "min_replicas", 3),
        ("cooldown_up_s", "120", "cooldown_up_s", 120.0),
        ("cooldown_down_s", "600", "cooldown_down_s", 600.0),
        ("scale_down_cpu_below_percent", "30", "scale_down_cpu_below_percent", 30.0),
    ],
)
def test_an_annotation_may_tighten_a_limit(
    key: str, value: str, field: str, expected: float
) -> None:
    assert getattr(tightened(Limits(), [(key, value)]), field) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_replicas", "40"),
        ("min_replicas", "1"),
        ("cooldown_up_s", "0"),
        ("cooldown_down_s", "10"),
        ("max_step_down", "3"),
        ("scale_down_cpu_below_percent", "90"),
        ("max_actions_per_hour", "1000"),
        ("metric_max_age_s", "600"),
    ],
)
def test_an_annotation_may_not_loosen_a_limit(key: str, value: str) -> None:
    with pytest.raises(ValueError, match="may only tighten"):
        tightened(Limits(), [(key, value)])


@pytest.mark.parametrize("key", ["critical_allow", "critical_patterns"])
def test_the_critical_lists_are_not_settable_by_annotation(key: str) -> None:
    with pytest.raises(ValueError):
        tightened(Limits(), [(key, "[]")])


def test_an_unknown_annotation_key_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="bogus"):
        tightened(Limits(), [("bogus", "1")])
