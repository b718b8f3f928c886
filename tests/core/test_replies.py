"""The strict reply parser: exactly one well-formed JSON proposal, or a refusal with a reason."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claudescale.core.replies import (
    TARGET_REPLICAS_LIMIT,
    ParseFailure,
    batch_schema,
    parse_batch,
    parse_reply,
    reply_schema,
)
from claudescale.core.values import Action, Code, Proposal, Source, WorkloadRef

WEB = WorkloadRef("shop", "web")
API = WorkloadRef("shop", "api")
GOOD = '{"action": "scale_up", "target_replicas": 4, "reason": "CPU 85% over 3 pods."}'


def parse(text: str, max_chars: int = 20_000) -> Proposal | ParseFailure:
    return parse_reply(
        text, asked=WEB, source=Source.MODEL_SAMPLING, from_replicas=3, max_chars=max_chars
    )


def reply(**fields: Any) -> str:
    base: dict[str, Any] = {"action": "hold", "target_replicas": 3, "reason": "steady at 55%"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not _DROP})


_DROP = object()


GOOD_REPLIES = [
    pytest.param(GOOD, Action.SCALE_UP, 4, "CPU 85% over 3 pods.", id="plain object"),
    pytest.param(f"```json\n{GOOD}\n```", Action.SCALE_UP, 4, None, id="json fence"),
    pytest.param(f"```\n{GOOD}\n```", Action.SCALE_UP, 4, None, id="bare fence"),
    pytest.param(f"```JSON\n{GOOD}\n```", Action.SCALE_UP, 4, None, id="upper-case json fence"),
    pytest.param(f"\n\n  {GOOD}  \n", Action.SCALE_UP, 4, None, id="surrounding whitespace"),
    pytest.param(f"  ```json\n{GOOD}\n```\n", Action.SCALE_UP, 4, None, id="fence with blanks"),
    pytest.param(
        json.dumps(
            {"reason": "r", "target_replicas": 2, "action": "scale_down", "namespace": "shop"}
            | {"name": "web"},
            indent=2,
        ),
        Action.SCALE_DOWN,
        2,
        "r",
        id="indented, reordered, naming the asked workload",
    ),
    pytest.param(reply(target_replicas=-1), Action.HOLD, -1, None, id="negative for guardrails"),
    pytest.param(reply(target_replicas=0), Action.HOLD, 0, None, id="zero for guardrails"),
    pytest.param(
        reply(target_replicas=TARGET_REPLICAS_LIMIT),
        Action.HOLD,
        1_000_000,
        None,
        id="largest accepted integer",
    ),
    pytest.param(
        reply(target_replicas=-TARGET_REPLICAS_LIMIT),
        Action.HOLD,
        -1_000_000,
        None,
        id="smallest accepted integer",
    ),
    pytest.param(reply(reason=""), Action.HOLD, 3, "", id="blank reason left to guardrails"),
    pytest.param(
        reply(reason="ünïcode ```x``` é"),
        Action.HOLD,
        3,
        "ünïcode ```x``` é",
        id="unicode and backticks in reason",
    ),
    pytest.param(
        f"```json\n{reply(reason='see ```code``` here')}\n```",
        Action.HOLD,
        3,
        "see ```code``` here",
        id="backticks inside a fenced reason",
    ),
    pytest.param(
        reply(target_replicas=4, action="scale_down"),
        Action.SCALE_DOWN,
        4,
        None,
        id="action and target disagreement left to guardrails",
    ),
]


@pytest.mark.parametrize(("text", "action", "target", "reason"), GOOD_REPLIES)
def test_well_formed_replies_become_proposals_for_the_asked_workload(
    text: str, action: Action, target: int, reason: str | None
) -> None:
    result = parse(text)

    assert isinstance(result, Proposal), result
    assert result.ref == WEB
    assert result.action is action
    assert result.target_replicas == target
    assert type(result.target_replicas) is int
    assert result.source is Source.MODEL_SAMPLING
    assert result.from_replicas == 3
    if reason is not None:
        assert result.reason == reason


BAD_REPLIES = [
    pytest.param("", "empty", id="empty string"),
    pytest.param("   \n\t  ", "empty", id="whitespace only"),
    pytest.param(f"Sure! {GOOD}", "not valid JSON", id="prose before"),
    pytest.param(f"{GOOD} Hope this helps.", "not valid JSON", id="prose after"),
    pytest.param(f"{GOOD}{GOOD}", "not valid JSON", id="two objects"),
    pytest.param(f"{GOOD}\n{GOOD}", "not valid JSON", id="two objects on two lines"),
    pytest.param(f"[{GOOD}]", "must be a JSON object, got an array", id="array of one"),
    pytest.param('"scale_up"', "must be a JSON object", id="a string"),
    pytest.param("4", "must be a JSON object, got 4", id="a number"),
    pytest.param("null", "must be a JSON object, got null", id="null"),
    pytest.param(reply(target_replicas="4"), 'JSON integer, got "4"', id="string integer"),
    pytest.param(reply(target_replicas=4.0), "JSON integer, got 4.0", id="float four"),
    pytest.param(reply(target_replicas=4.5), "JSON integer, got 4.5", id="float"),
    pytest.param(reply().replace("3", "4e0"), "JSON integer, got 4.0", id="exponent"),
    pytest.param(reply(target_replicas=True), "JSON integer, got true", id="true"),
    pytest.param(reply(target_replicas=False), "JSON integer, got false", id="false"),
    pytest.param(reply(target_replicas=None), "JSON integer, got null", id="null integer"),
    pytest.param(reply(target_replicas="４"), "JSON integer", id="fullwidth digit"),
    pytest.param(reply(target_replicas=[4]), "got an array", id="array integer"),
    pytest.param(reply(target_replicas={"value": 4}), "got an object", id="object integer"),
    pytest.param(reply().replace("3", "NaN"), "NaN is not a JSON number", id="NaN"),
    pytest.param(reply().replace("3", "Infinity"), "Infinity", id="Infinity"),
    pytest.param(reply().replace("3", "-Infinity"), "-Infinity", id="minus Infinity"),
    pytest.param(reply().replace("3", "1e400"), "JSON integer", id="float overflow"),
    pytest.param(reply(target_replicas=TARGET_REPLICAS_LIMIT + 1), "within", id="too large"),
    pytest.param(reply(target_replicas=-TARGET_REPLICAS_LIMIT - 1), "within", id="too small"),
    pytest.param(reply().replace("3", "9" * 5000), "not acceptable JSON", id="5000 digits"),
    pytest.param(reply(action="SCALE_UP"), "action must be one of", id="upper-case action"),
    pytest.param(reply(action="scale up"), "action must be one of", id="spaced action"),
    pytest.param(reply(action="scale_up "), "action must be one of", id="trailing space"),
    pytest.param(reply(action="increase"), "action must be one of", id="unknown action"),
    pytest.param(reply(action=1), "action must be one of", id="numeric action"),
    pytest.param(reply(action={"do": "scale_up"}), "got an object", id="nested action"),
    pytest.param(reply(reason=42), "reason must be a JSON string, got 42", id="numeric reason"),
    pytest.param(reply(reason=None), "reason must be a JSON string", id="null reason"),
    pytest.param(reply(reason=["a"]), "reason must be a JSON string", id="array reason"),
    pytest.param(reply(reason={"text": "x"}), "got an object", id="nested reason"),
    pytest.param(reply(confidence=0.9), 'unknown keys "confidence"', id="extra key"),
    pytest.param(reply(replicas=4), 'unknown keys "replicas"', id="extra key alias"),
    pytest.param(reply(action=_DROP), 'missing keys "action"', id="missing action"),
    pytest.param(reply(target_replicas=_DROP), "missing keys", id="missing target"),
    pytest.param(reply(reason=_DROP), 'missing keys "reason"', id="missing reason"),
    pytest.param("{}", "missing keys", id="empty object"),
    pytest.param(
        '{"action": "hold", "target_replicas": 3, "target_replicas": 5, "reason": "x"}',
        '"target_replicas" appears twice',
        id="duplicate key",
    ),
    pytest.param(
        '{"action": "hold", "action": "hold", "target_replicas": 3, "reason": "x"}',
        '"action" appears twice',
        id="duplicate key with equal values",
    ),
    pytest.param(
        '{"action": "hold", "target_replicas": 3, "reason": {"a": 1, "a": 2}}',
        "appears twice",
        id="duplicate key in a nested object",
    ),
    pytest.param(
        f"```json\n{GOOD}\n```\n```json\n{GOOD}\n```", "single fenced block", id="two fenced blocks"
    ),
    pytest.param(
        f"Here you go:\n```json\n{GOOD}\n```", "one fenced block", id="prose before a fence"
    ),
    pytest.param(
        f"```json\n{GOOD}\n```\nLet me know!", "fenced block must open", id="prose after a fence"
    ),
    pytest.param(f"```python\n{GOOD}\n```", 'plain or json, got "python"', id="python fence"),
    pytest.param(f"```json\n{GOOD}\n", "fenced block must open", id="unterminated fence"),
    pytest.param(f"```json {GOOD}```", "fenced block must open", id="one-line fence"),
    pytest.param("```json\n```", "not valid JSON", id="empty fence"),
    pytest.param(f"~~~\n{GOOD}\n~~~", "not valid JSON", id="tilde fence"),
    pytest.param("\ufeff" + GOOD, "not valid JSON", id="byte order mark"),
    pytest.param(
        "{'action': 'hold', 'target_replicas': 3, 'reason': 'x'}",
        "not valid JSON",
        id="python dict repr",
    ),
    pytest.param(GOOD[:-1] + ",}", "not valid JSON", id="trailing comma"),
    pytest.param("// my answer\n" + GOOD, "not valid JSON", id="comment"),
    pytest.param(GOOD.replace("4", "０４"), "not valid JSON", id="fullwidth digits unquoted"),
    pytest.param("[" * 50_000 + "]" * 50_000, "characters long", id="too long"),
    pytest.param(GOOD + " " * 20_000, "over the 20000 limit", id="padded past the limit"),
    pytest.param("[" * 9000 + "]" * 9000, "not acceptable JSON", id="deep nesting"),
    pytest.param(
        reply(namespace="shop"),
        "namespace and name must be given together",
        id="namespace without name",
    ),
    pytest.param(
        reply(name="web"), "namespace and name must be given together", id="name without namespace"
    ),
    pytest.param(
        reply(namespace=1, name="web"), "namespace must be a JSON string", id="numeric namespace"
    ),
    pytest.param(reply(namespace="shop", name=None), "name must be a JSON string", id="null name"),
    pytest.param(
        reply(namespace="shop", name="api", target_replicas=4.5),
        "JSON integer",
        id="shape is judged before the target",
    ),
    pytest.param(
        json.dumps({"decisions": [json.loads(reply(namespace="shop", name="web"))]}),
        'unknown keys "decisions"',
        id="batch given for a single workload",
    ),
]


@pytest.mark.parametrize(("text", "why"), BAD_REPLIES)
def test_malformed_replies_are_invalid_proposals_with_a_sentence_naming_the_workload(
    text: str, why: str
) -> None:
    result = parse(text)

    assert isinstance(result, ParseFailure), result
    assert result.code is Code.INVALID_PROPOSAL
    assert result.ref == WEB
    assert result.message.startswith("Model reply for shop/web was refused: ")
    assert why in result.message
    assert result.message.endswith(".")
    assert not result.message.endswith("..")


def test_a_float_target_is_refused_with_the_documented_sentence() -> None:
    result = parse(reply(target_replicas=4.5))

    assert result == ParseFailure(
        Code.INVALID_PROPOSAL,
        "Model reply for shop/web was refused: target_replicas must be a JSON integer, got 4.5.",
        WEB,
    )


def test_the_length_limit_is_checked_before_parsing() -> None:
    assert isinstance(parse(GOOD, max_chars=len(GOOD)), Proposal)
    refused = parse(GOOD, max_chars=len(GOOD) - 1)
    assert isinstance(refused, ParseFailure)
    assert f"{len(GOOD)} characters long" in refused.message


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        pytest.param("shop", "api", id="another name"),
        pytest.param("kube-system", "web", id="another namespace"),
        pytest.param("shop", "Web", id="case"),
        pytest.param("shop", "web ", id="trailing space"),
        pytest.param("shop", "w\u0435b", id="cyrillic homoglyph"),
        pytest.param("shop", "ｗｅｂ", id="fullwidth letters"),
        pytest.param("", "", id="empty names"),
        pytest.param("shop/web", "", id="the whole reference in namespace"),
    ],
)
def test_a_reply_naming_another_workload_is_an_invalid_target(namespace: str, name: str) -> None:
    result = parse(reply(namespace=namespace, name=name))

    assert isinstance(result, ParseFailure), result
    assert result.code is Code.INVALID_TARGET
    assert result.message.startswith("Model reply for shop/web was refused: it names ")
    assert "not the workload asked about" in result.message


def test_text_from_the_reply_is_escaped_and_clipped_in_messages() -> None:
    result = parse(reply(action="scale_up\n\u202eevil" + "x" * 500))

    assert isinstance(result, ParseFailure)
    assert "\n" not in result.message
    assert "\u202e" not in result.message
    assert len(result.message) < 200


def test_parse_reply_refuses_non_text_without_raising() -> None:
    result = parse_reply(
        b"{}",  # type: ignore[arg-type]
        asked=WEB,
        source=Source.MODEL_PROVIDER,
        from_replicas=None,
    )
    assert isinstance(result, ParseFailure)
    assert result.code is Code.INVALID_PROPOSAL


# --- batched replies ---------------------------------------------------------------------


def decision(ref: WorkloadRef, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "namespace": ref.namespace,
        "name": ref.name,
        "action": "hold",
        "target_replicas": 3,
        "reason": f"{ref} is steady",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not _DROP}


def batch(text: str) -> list[Proposal | ParseFailure]:
    return parse_batch(text, asked={WEB: 3, API: 2}, source=Source.MODEL_PROVIDER)


def test_a_batched_reply_gives_one_proposal_per_decision_in_order() -> None:
    text = json.dumps(
        {"decisions": [decision(API, action="scale_up", target_replicas=3), decision(WEB)]}
    )

    results = batch(f"```json\n{text}\n```")

    assert results == [
        Proposal(API, Action.SCALE_UP, 3, "shop/api is steady", Source.MODEL_PROVIDER, 2),
        Proposal(WEB, Action.HOLD, 3, "shop/web is steady", Source.MODEL_PROVIDER, 3),
    ]


def test_a_batched_decision_for_a_workload_not_asked_about_is_an_invalid_target() -> None:
    other = WorkloadRef("kube-system", "coredns")
    results = batch(json.dumps({"decisions": [decision(WEB), decision(other)]}))

    assert isinstance(results[0], Proposal)
    refused = results[1]
    assert isinstance(refused, ParseFailure)
    assert refused.code is Code.INVALID_TARGET
    assert refused.ref is None
    assert '"kube-system/coredns", which was not asked about' in refused.message


def test_a_workload_named_twice_in_a_batch_loses_every_decision_for_it() -> None:
    text = json.dumps(
        {"decisions": [decision(WEB), decision(API), decision(WEB, target_replicas=5)]}
    )

    results = batch(text)

    assert isinstance(results[1], Proposal)
    assert results[1].ref == API
    for index in (0, 2):
        refused = results[index]
        assert isinstance(refused, ParseFailure)
        assert refused.code is Code.INVALID_PROPOSAL
        assert refused.ref == WEB
        assert "shop/web is named by 2 decisions" in refused.message


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        pytest.param(decision(WEB, namespace=_DROP, name=_DROP), "missing keys", id="unnamed"),
        pytest.param(decision(WEB, name=_DROP), "missing keys", id="no name"),
        pytest.param(decision(WEB, urgency="high"), 'unknown keys "urgency"', id="extra key"),
        pytest.param(decision(WEB, target_replicas=True), "JSON integer, got true", id="bool"),
        pytest.param(decision(WEB, name=7), "name must be a JSON string", id="numeric name"),
        pytest.param("shop/web: hold", "must be a JSON object", id="string entry"),
        pytest.param([decision(WEB)], "must be a JSON object, got an array", id="nested array"),
    ],
)
def test_a_malformed_batched_decision_is_refused_alone(entry: Any, why: str) -> None:
    results = batch(json.dumps({"decisions": [entry, decision(API)]}))

    assert len(results) == 2
    refused = results[0]
    assert isinstance(refused, ParseFailure)
    assert refused.code is Code.INVALID_PROPOSAL
    assert refused.message.startswith("Model decision #1")
    assert why in refused.message
    assert isinstance(results[1], Proposal)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(json.dumps([decision(WEB)]), "got an array", id="bare array"),
        pytest.param(
            json.dumps({"decision": [decision(WEB)]}), "only the key decisions", id="misspelt key"
        ),
        pytest.param(
            json.dumps({"decisions": [], "note": "x"}), "only the key decisions", id="extra key"
        ),
        pytest.param(json.dumps({}), "needs a decisions array", id="no decisions"),
        pytest.param(
            json.dumps({"decisions": decision(WEB)}),
            "must be a JSON array",
            id="object for decisions",
        ),
        pytest.param(f"OK: {json.dumps({'decisions': []})}", "not valid JSON", id="prose"),
        pytest.param('{"decisions": [], "decisions": []}', "appears twice", id="duplicate"),
    ],
)
def test_a_structurally_broken_batch_is_one_failure_naming_the_asked_workloads(
    text: str, why: str
) -> None:
    results = batch(text)

    assert len(results) == 1
    refused = results[0]
    assert isinstance(refused, ParseFailure)
    assert refused.code is Code.INVALID_PROPOSAL
    assert refused.ref is None
    assert refused.message.startswith("Model reply for shop/api, shop/web was refused: ")
    assert why in refused.message


def test_a_batch_with_no_decisions_decides_nothing() -> None:
    assert batch('{"decisions": []}') == []


# --- schema --------------------------------------------------------------------------------


def test_the_reply_schema_describes_the_accepted_shape() -> None:
    schema = reply_schema()
    validator = jsonschema.Draft202012Validator(schema)

    validator.check_schema(schema)
    assert validator.is_valid(json.loads(GOOD))
    assert validator.is_valid(json.loads(reply(namespace="shop", name="web")))
    assert not validator.is_valid(json.loads(reply(extra=1)))
    assert not validator.is_valid(json.loads(reply(target_replicas=True)))
    assert not validator.is_valid(json.loads(reply(namespace="shop")))
    assert not validator.is_valid(json.loads(reply(reason=_DROP)))


def test_the_schemas_are_fresh_copies() -> None:
    reply_schema()["properties"].clear()
    batch_schema()["properties"].clear()

    assert "action" in reply_schema()["properties"]
    assert "decisions" in batch_schema()["properties"]


def test_the_batch_schema_requires_names_on_every_decision() -> None:
    validator = jsonschema.Draft202012Validator(batch_schema())

    assert validator.is_valid({"decisions": [decision(WEB), decision(API)]})
    assert not validator.is_valid({"decisions": [decision(WEB, name=_DROP)]})
    assert not validator.is_valid({"decisions": [], "extra": 1})


# --- properties ----------------------------------------------------------------------------

JSONISH = st.text(alphabet='{}[]",:0123456789.-eE+ \n`truefalsnNIy\\abcdhold_scupw', max_size=80)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**7), max_value=10**7)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["action", "target_replicas", "reason", "namespace", "name", "x"]),
            children,
            max_size=6,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), JSONISH, json_values.map(json.dumps)))
def test_parse_reply_never_raises_and_accepts_only_schema_valid_replies(text: str) -> None:
    result = parse(text)

    assert isinstance(result, Proposal | ParseFailure)
    if isinstance(result, Proposal):
        assert type(result.target_replicas) is int
        if not text.strip().startswith("```"):
            jsonschema.validate(json.loads(text), reply_schema())
    else:
        assert result.message.startswith("Model reply for shop/web was refused: ")
        assert result.code in (Code.INVALID_PROPOSAL, Code.INVALID_TARGET)


@settings(max_examples=200)
@given(st.one_of(st.text(), JSONISH, json_values.map(lambda v: json.dumps({"decisions": v}))))
def test_parse_batch_never_raises(text: str) -> None:
    results = batch(text)

    assert all(isinstance(r, Proposal | ParseFailure) for r in results)
    assert all(r.ref in (WEB, API) for r in results if isinstance(r, Proposal))


@st.composite
def rendered_replies(draw: st.DrawFn) -> tuple[str, Action, int, str]:
    action = draw(st.sampled_from(list(Action)))
    target = draw(st.integers(min_value=-TARGET_REPLICAS_LIMIT, max_value=TARGET_REPLICAS_LIMIT))
    reason = draw(st.text(max_size=200))
    fields: list[tuple[str, object]] = [
        ("action", action.value),
        ("target_replicas", target),
        ("reason", reason),
    ]
    if draw(st.booleans()):
        fields += [("namespace", WEB.namespace), ("name", WEB.name)]
    ordered = draw(st.permutations(fields))
    body = json.dumps(
        dict(ordered),
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
    )
    fence = draw(st.sampled_from(["{}", "```json\n{}\n```", "```\n{}\n```", "\n  {}\n"]))
    return fence.replace("{}", body, 1), action, target, reason


@settings(max_examples=300)
@given(rendered_replies())
def test_a_rendered_valid_proposal_always_round_trips(
    case: tuple[str, Action, int, str],
) -> None:
    text, action, target, reason = case

    result = parse(text)

    assert result == Proposal(WEB, action, target, reason, Source.MODEL_SAMPLING, 3)


def test_a_reason_with_an_unpaired_surrogate_escape_is_refused_not_passed_on() -> None:
    text = '{"action": "scale_up", "target_replicas": 4, "reason": "cpu \\ud800 high"}'
    result = parse_reply(
        text, asked=WorkloadRef("shop", "web"), source=Source.MODEL_PROVIDER, from_replicas=3
    )
    assert isinstance(result, ParseFailure)
    assert result.code is Code.INVALID_PROPOSAL
    assert "surrogate" in result.message
