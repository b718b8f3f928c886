"""The strict JSON text of a model reply: one value, optionally in one fenced block.

Layer: pure core (used by ``claudescale.core.replies``). Refuses what Python's ``json`` would
quietly accept (duplicate keys, NaN and Infinity, lone surrogates, a second fence, prose
around the JSON) by raising ``Refused``; ``replies`` turns that into a ``ParseFailure`` value.
Every piece of reply text it quotes back is escaped and clipped (``show``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from claudescale.core.values import Code

_FENCE: Final = re.compile(r"\A```(?P<info>[^\n]*)\n(?P<body>.*)```\Z", re.DOTALL)
_FENCE_LINE: Final = re.compile(r"^[ \t]*```", re.MULTILINE)
_SHOW_CHARS: Final = 40
NAMES_SHOWN: Final = 3


class Refused(Exception):
    """The reply is refused; ``args[0]`` says why, without a final period."""

    def __init__(self, why: str, code: Code = Code.INVALID_PROPOSAL) -> None:
        super().__init__(why)
        self.why = why
        self.code = code


def load_json(text: object, max_chars: int) -> Any:
    """The one JSON value of a reply, after unwrapping a single fenced block."""
    if not isinstance(text, str):
        raise Refused(f"the reply must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise Refused(f"the reply is {len(text)} characters long, over the {max_chars} limit")
    body = text.strip()
    if not body:
        raise Refused("the reply is empty")
    fenced = body.startswith("```")
    if fenced:
        body = unfence(body)
    try:
        return json.loads(
            body,
            object_pairs_hook=object_without_duplicates,
            parse_constant=refuse_constant,
        )
    except Refused:
        raise
    except json.JSONDecodeError as exc:
        if not fenced and "```" in body:
            raise Refused(
                "the reply must be one JSON object or one fenced block and nothing else"
            ) from None
        raise Refused(
            "the reply must be one JSON object and nothing else, but it is not valid JSON "
            f"({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        # int() refusing thousands of digits, or nesting deeper than the decoder allows.
        raise Refused(f"the reply is not acceptable JSON ({clip(str(exc))})") from None


def require_unicode(key: str, value: str) -> None:
    """JSON's \\ud800 escapes decode to lone surrogates, which no UTF-8 log can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(f"{key} holds an unpaired surrogate escape, which is not text") from None


def unfence(body: str) -> str:
    match = _FENCE.match(body)
    if match is None:
        raise Refused("a fenced block must open with ``` or ```json on its own line and close")
    info = match.group("info").strip()
    if info.lower() not in ("", "json"):
        raise Refused(f"a fenced block must be plain or json, got {show(info)}")
    inner = match.group("body")
    # JSON strings cannot hold a raw newline, so a line opening with ``` is another fence,
    # while ``` inside a reason is just text.
    if _FENCE_LINE.search(inner):
        raise Refused("the reply must contain a single fenced block")
    return inner


def object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Refused(f"the key {show(key)} appears twice in one object")
        result[key] = value
    return result


def refuse_constant(literal: str) -> Any:
    raise Refused(f"{literal} is not a JSON number")


def show(value: Any) -> str:
    """A short, escaped rendering of a value taken from the reply, safe to log."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    try:
        rendered = json.dumps(value, ensure_ascii=True)
    except (ValueError, TypeError):  # pragma: no cover - every parsed scalar renders
        rendered = type(value).__name__
    return clip(rendered)


def clip(text: str) -> str:
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 1] + "…"


def keys_text(keys: list[str]) -> str:
    return ", ".join(show(key) for key in keys[:NAMES_SHOWN]) + (
        f" and {len(keys) - NAMES_SHOWN} more" if len(keys) > NAMES_SHOWN else ""
    )
