"""Strict parsing of model replies into proposals.

Layer: pure core. This module owns the shape of a model's answer (see DESIGN.md, "What a
proposal looks like"): one JSON object, optionally inside a single fenced block, and nothing
else. It checks shape only: whether the reason is good enough, whether the target is inside
the bounds and whether the action agrees with the target are the guardrails' business. A
refusal is a value (``ParseFailure``), never an exception, whatever the text. No I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from claudescale.core.reply_json import (
    NAMES_SHOWN,
    Refused,
    keys_text,
    load_json,
    require_unicode,
    show,
)
from claudescale.core.values import Action, Code, Proposal, Source, WorkloadRef

TARGET_REPLICAS_LIMIT: Final = 1_000_000
"""The parser accepts integers within plus or minus this; the guardrails judge real bounds."""

DEFAULT_MAX_CHARS: Final = 20_000
"""Longest reply read at all; anything longer is refused before parsing."""

_REQUIRED: Final = ("action", "target_replicas", "reason")
_OPTIONAL: Final = ("namespace", "name")
_ACTIONS: Final = frozenset(action.value for action in Action)
_UNNAMED: Final = WorkloadRef("", "")

_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "claudescale scaling proposal",
    "description": "One JSON object and nothing else; namespace and name, when given, must "
    "name the workload that was asked about.",
    "type": "object",
    "properties": {
        "action": {"enum": [action.value for action in Action]},
        "target_replicas": {
            "type": "integer",
            "minimum": -TARGET_REPLICAS_LIMIT,
            "maximum": TARGET_REPLICAS_LIMIT,
        },
        "reason": {"type": "string", "description": "One sentence with the numbers."},
        "namespace": {"type": "string"},
        "name": {"type": "string"},
    },
    "required": list(_REQUIRED),
    "dependentRequired": {"namespace": ["name"], "name": ["namespace"]},
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """A refused reply: ``invalid_proposal`` or ``invalid_target``, and one sentence saying why.

    ``ref`` is the workload the failure is about when that is a workload that was asked about
    (so the caller can fall back to the rules for it); None when the entry named no such
    workload, or a batched reply was broken as a whole.
    """

    code: Code
    message: str
    ref: WorkloadRef | None = None


def reply_schema() -> dict[str, Any]:
    """The JSON Schema of a single reply, for prompts and MCP (a fresh copy on each call)."""
    return copy.deepcopy(_SCHEMA)


def batch_schema() -> dict[str, Any]:
    """The JSON Schema of a batched reply: ``{"decisions": [<reply with namespace and name>]}``."""
    decision = copy.deepcopy(_SCHEMA)
    del decision["$schema"]
    decision["required"] = [*_REQUIRED, *_OPTIONAL]
    del decision["dependentRequired"]
    return {
        "$schema": _SCHEMA["$schema"],
        "title": "claudescale batched scaling proposals",
        "description": "One decision per workload asked about, each naming its workload once.",
        "type": "object",
        "properties": {"decisions": {"type": "array", "items": decision}},
        "required": ["decisions"],
        "additionalProperties": False,
    }


def parse_reply(
    text: str,
    *,
    asked: WorkloadRef,
    source: Source,
    from_replicas: int | None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Proposal | ParseFailure:
    """Turn a model's reply about ``asked`` into a Proposal, or say why it is refused.

    Never raises: any text that is not exactly one well-formed reply is ``invalid_proposal``,
    and a reply naming another workload is ``invalid_target``.
    """
    try:
        document = load_json(text, max_chars)
        if not isinstance(document, dict):
            raise Refused(f"the reply must be a JSON object, got {show(document)}")
        return _proposal(document, asked, source, from_replicas, names_required=False)
    except Refused as refused:
        return ParseFailure(
            refused.code, f"Model reply for {asked} was refused: {refused.why}.", asked
        )


def parse_batch(
    text: str,
    *,
    asked: Mapping[WorkloadRef, int | None],
    source: Source,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[Proposal | ParseFailure]:
    """Turn a batched reply into one result per decision, in the reply's order.

    ``asked`` maps each workload the summary showed to the replicas it showed (the proposals'
    ``from_replicas``). A reply that is broken as a whole gives a single ``ParseFailure`` with
    no ``ref``. Each decision must name an asked workload (else ``invalid_target``) and no
    workload may be named twice (every decision for it is then ``invalid_proposal``).
    Workloads the reply does not mention get no entry; the caller decides what they get.
    Never raises.
    """
    try:
        decisions = _load_batch(text, max_chars)
    except Refused as refused:
        return [
            ParseFailure(
                refused.code,
                f"Model reply for {_describe(asked)} was refused: {refused.why}.",
            )
        ]

    named: list[WorkloadRef | None] = [_named_ref(entry) for entry in decisions]
    counts: dict[WorkloadRef, int] = {}
    for ref in named:
        if ref is not None:
            counts[ref] = counts.get(ref, 0) + 1

    results: list[Proposal | ParseFailure] = []
    for index, (entry, ref) in enumerate(zip(decisions, named, strict=True), start=1):
        known = ref if ref is not None and ref in asked else None
        subject = f"decision #{index}" + (f" for {known}" if known is not None else "")
        try:
            if not isinstance(entry, dict):
                raise Refused(f"each decision must be a JSON object, got {show(entry)}")
            # Shape first, as for a single reply; the entry is checked against its own names.
            proposal = _proposal(
                entry, ref or _UNNAMED, source, asked.get(ref or _UNNAMED), names_required=True
            )
            if ref is None:  # pragma: no cover - _proposal refuses entries without both names
                raise Refused("a decision must name its workload with namespace and name")
            if known is None:
                raise Refused(
                    f"it names {show(str(ref))}, which was not asked about", Code.INVALID_TARGET
                )
            if counts[known] > 1:
                raise Refused(f"{known} is named by {counts[known]} decisions")
            results.append(proposal)
        except Refused as refused:
            results.append(
                ParseFailure(refused.code, f"Model {subject} was refused: {refused.why}.", known)
            )
    return results


def _load_batch(text: str, max_chars: int) -> list[Any]:
    document = load_json(text, max_chars)
    if not isinstance(document, dict):
        raise Refused(f"a batched reply must be a JSON object, got {show(document)}")
    unknown = sorted(set(document) - {"decisions"})
    if unknown:
        raise Refused(f"a batched reply has only the key decisions, got {keys_text(unknown)}")
    if "decisions" not in document:
        raise Refused("a batched reply needs a decisions array")
    decisions = document["decisions"]
    if not isinstance(decisions, list):
        raise Refused(f"decisions must be a JSON array, got {show(decisions)}")
    return decisions


def _named_ref(entry: Any) -> WorkloadRef | None:
    """The workload a decision names, when it names one with two strings."""
    if not isinstance(entry, dict):
        return None
    namespace, name = entry.get("namespace"), entry.get("name")
    if isinstance(namespace, str) and isinstance(name, str):
        return WorkloadRef(namespace, name)
    return None


def _proposal(
    document: dict[str, Any],
    asked: WorkloadRef,
    source: Source,
    from_replicas: int | None,
    *,
    names_required: bool,
) -> Proposal:
    keys = set(document)
    unknown = sorted(keys - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise Refused(f"unknown keys {keys_text(unknown)}")
    needed = (*_REQUIRED, *_OPTIONAL) if names_required else _REQUIRED
    missing = [key for key in needed if key not in keys]
    if missing:
        raise Refused(f"missing keys {keys_text(missing)}")

    action = document["action"]
    if not isinstance(action, str) or action not in _ACTIONS:
        raise Refused(f"action must be one of scale_up, scale_down, hold, got {show(action)}")
    target = document["target_replicas"]
    # bool is a subclass of int in Python, and JSON's true is not an integer.
    if type(target) is not int:
        raise Refused(f"target_replicas must be a JSON integer, got {show(target)}")
    if abs(target) > TARGET_REPLICAS_LIMIT:
        raise Refused(
            f"target_replicas must be within ±{TARGET_REPLICAS_LIMIT}, got {show(target)}"
        )
    reason = document["reason"]
    if not isinstance(reason, str):
        raise Refused(f"reason must be a JSON string, got {show(reason)}")
    require_unicode("reason", reason)

    has_namespace, has_name = "namespace" in keys, "name" in keys
    if has_namespace != has_name:
        raise Refused("namespace and name must be given together or not at all")
    if has_namespace:
        namespace, name = document["namespace"], document["name"]
        for key, value in (("namespace", namespace), ("name", name)):
            if not isinstance(value, str):
                raise Refused(f"{key} must be a JSON string, got {show(value)}")
            require_unicode(key, value)
        if WorkloadRef(namespace, name) != asked:
            raise Refused(
                f"it names {show(f'{namespace}/{name}')}, not the workload asked about",
                Code.INVALID_TARGET,
            )

    return Proposal(
        ref=asked,
        action=Action(action),
        target_replicas=target,
        reason=reason,
        source=source,
        from_replicas=from_replicas,
    )


def _describe(asked: Mapping[WorkloadRef, int | None]) -> str:
    refs = sorted(asked)
    if not refs:
        return "no workloads"
    shown = ", ".join(str(ref) for ref in refs[:NAMES_SHOWN])
    more = len(refs) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
