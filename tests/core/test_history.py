"""Recovery of guardrail memory from audit records: conservative whenever in doubt."""

from __future__ import annotations

from typing import Any

from claudescale.core.recovery_fold import recover
from claudescale.core.values import History

EPOCH = "boot-1"


def record(kind: str, mono: float, epoch: str = EPOCH, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "mono": mono, "epoch": epoch, "workload": "shop/web", **fields}


def test_executed_actions_restore_both_cooldowns() -> None:
    records = [
        record("intent", 100, intent_id="a", **{"from": 3, "to": 4}),
        record("outcome", 101, intent_id="a", code="ok", **{"from": 3, "to": 4}),
    ]
    history = recover(records, epoch=EPOCH, now=150).histories["shop/web"]
    assert history.last_scale_up_at == 101 and history.last_change_at == 101
    assert history.last_known_replicas == 4


def test_an_intent_without_outcome_counts_as_executed_from_the_intent_time() -> None:
    records = [record("intent", 100, intent_id="a", **{"from": 3, "to": 4})]
    recovered = recover(records, epoch=EPOCH, now=150)
    history = recovered.histories["shop/web"]
    assert history.last_scale_up_at == 100
    assert history.last_known_replicas is None  # either count is ours: no false external change
    assert [i["intent_id"] for i in recovered.interrupted_intents] == ["a"]


def test_an_unknown_outcome_written_at_restart_keeps_the_intent_time() -> None:
    records = [
        record("intent", 100, intent_id="a", **{"from": 3, "to": 4}),
        record("outcome", 900, intent_id="a", code="unknown", **{"from": 3, "to": 4}),
    ]
    history = recover(records, epoch=EPOCH, now=950).histories["shop/web"]
    assert history.last_scale_up_at == 100


def test_failed_writes_do_not_start_cooldowns() -> None:
    records = [
        record("intent", 100, intent_id="a", **{"from": 3, "to": 4}),
        record("outcome", 101, intent_id="a", code="conflict", **{"from": 3, "to": 4}),
    ]
    assert recover(records, epoch=EPOCH, now=150).histories["shop/web"] == History()


def test_history_from_another_boot_is_treated_as_an_action_at_start_up() -> None:
    records = [
        record("outcome", 5, epoch="boot-0", intent_id="a", code="ok", **{"from": 3, "to": 4})
    ]
    history = recover(records, epoch=EPOCH, now=42).histories["shop/web"]
    assert history.last_change_at == 42  # scale-down waits a full cooldown
    assert history.last_scale_up_at is None  # scale-up does not


def test_the_external_controller_stop_survives_a_reboot_until_cleared() -> None:
    flagged = [record("external_controller_set", 5, epoch="boot-0")]
    assert recover(flagged, epoch=EPOCH, now=42).histories["shop/web"].external_controller
    cleared = [*flagged, record("external_controller_cleared", 6, epoch="boot-0")]
    assert not recover(cleared, epoch=EPOCH, now=42).histories["shop/web"].external_controller


def test_external_changes_restart_the_scale_down_cooldown_and_count_reversions() -> None:
    records = [
        record("external_change", 200, replicas=3, reversion=True),
        record("external_change", 300, replicas=4, reversion=False),
    ]
    history = recover(records, epoch=EPOCH, now=310).histories["shop/web"]
    assert history.last_change_at == 300
    assert history.reversion_times == (200,)
    assert history.last_known_replicas == 4


def test_an_unknown_outcome_for_an_intent_from_another_boot_is_dated_by_itself() -> None:
    records = [
        record("intent", 500_000, epoch="boot-0", intent_id="a", **{"from": 3, "to": 4}),
        record("outcome", 20, intent_id="a", code="unknown", **{"from": 3, "to": 4}),
    ]
    history = recover(records, epoch=EPOCH, now=200).histories["shop/web"]
    assert history.last_scale_up_at == 20  # not boot-0's 500,000, which would block for days
