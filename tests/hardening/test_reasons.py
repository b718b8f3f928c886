"""Issue 9, point 1: a reason must carry content. Placeholders are refused after normalising
case, punctuation and whitespace; control characters and reasons without a real word are
refused; every reason the rules policy and the existing tests write still passes."""

from __future__ import annotations

import pytest

from claudescale.core.guardrails import Situation, evaluate
from claudescale.core.limits import Limits
from claudescale.core.values import (
    Action,
    Code,
    CpuReading,
    History,
    PodState,
    Proposal,
    Source,
    WorkloadRef,
    WorkloadState,
)

REF = WorkloadRef("shop", "web")


def verdict_code(reason: str) -> Code:
    pods = tuple(PodState(f"web-{i}", ready=True, cpu_request_cores=0.25) for i in range(3))
    state = WorkloadState(REF, "uid-1", 3, "41", ready_replicas=3, pods=pods)
    situation = Situation(state, CpuReading(85.0, age_s=5.0), History(), Limits(), 10_000.0)
    proposal = Proposal(REF, Action.SCALE_UP, 4, reason, Source.MODEL_PROVIDER, from_replicas=3)
    return evaluate(situation, proposal).code


@pytest.mark.parametrize(
    "reason",
    [
        "No reason provided",
        "none given",
        "see above",
        "TBD.",
        "None.",
        "Placeholder.",
        "<reason>.",
        "Unknown!",
        "Reason: N/A",
        "aaa",
        "AAAA!!",
        "n/a",
        "N / A",
        "-",
        "...",
        "reason",
        "test",
        "Test test",
        "asdf",
        "asdfasdf",
        "xxx",
        "lorem ipsum",
        "Lorem ipsum dolor sit amet.",
        "  No   Reason.  ",
        "not applicable",
        "[reason]",
        "{reason}",
        "Reason: TBD",
        "your reason here",
        "to do",
        "TODO: explain",
        "because",
        "12% 13% 14%",
        "Scale up.",
        "scaling up needed",
        "hold",
        "See logs.",
        "details in ticket",
    ],
)
def test_a_placeholder_reason_in_any_case_or_punctuation_is_refused(reason: str) -> None:
    assert verdict_code(reason) is Code.REASON_REQUIRED


@pytest.mark.parametrize(
    "reason",
    [
        "cpu 85%\r",
        "cpu 85% of requests\x1b[2K",
        "cpu 85%\nsecond line",
        "cpu\t85%",
        "cpu 85% \u202eevil",
        "cpu 85%\x00",
        "cpu 85%\u200b",
    ],
)
def test_a_reason_with_control_characters_is_refused(reason: str) -> None:
    assert verdict_code(reason) is Code.REASON_REQUIRED


@pytest.mark.parametrize(
    "reason",
    [
        "cpu 85%",
        "cpu 85% of requests",
        "cpu high",
        "cpu is low",
        "CPU 91.0% of requests over 3 ready pods is above the 60% target; 4 replicas would "
        "bring it near 68%.",
        "Traffic doubled after the marketing e-mail; see the dashboard above.",
        "CPU über 85 % seit fünf Minuten",
        "load",
    ],
)
def test_a_reason_with_a_real_word_passes(reason: str) -> None:
    assert verdict_code(reason) is Code.OK
