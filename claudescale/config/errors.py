"""Settings errors in claudescale's own words: one line, the full key path, what was wanted.

Layer: edge (beside ``claudescale.config``). ``describe_settings_error`` turns the first error
of a pydantic ``ValidationError`` into a sentence such as
``guardrails.cooldown_up_s: must be at least 0 (got -1).`` or
``workloads.shop/web.bogus: unknown key.``, never pydantic's own wording ("Input should be a
valid tuple", "Value error, ..."). ``keyed_error`` is how a validator reports a problem whose
key path it knows better than pydantic does (a workload's overrides). It reads no files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

KEYED: Final = "claudescale_keyed"
"""The error type of ``keyed_error``: its message already names the full key."""

_SCALARS: Final = (str, int, float, bool, type(None))
_SHOWN_CHARS: Final = 60


def keyed_error(key: str, why: str) -> PydanticCustomError:
    """An error for a validator to raise that names ``key`` itself (``key: why.``)."""
    return PydanticCustomError(KEYED, "{key}: {why}.", {"key": key, "why": why.rstrip(".")})


def describe_settings_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming the first bad key (its full dotted path) and what it must be."""
    first = exc.errors()[0]
    if first["type"] == KEYED:
        return first["msg"]
    parts = [prefix] if prefix else []
    parts += [str(part) for part in first["loc"]]
    key = ".".join(parts) or "settings"
    why = _why(first)
    value = first.get("input")
    shown = (
        f" (got {_show(value)})"
        if isinstance(value, _SCALARS) and first["type"] not in _NO_VALUE
        else ""
    )
    return f"{key}: {why}{shown}."


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _ctx(name: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: str(ctx.get(name, "?"))


def _value_error(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("error", "is not acceptable")).rstrip(".")


_NO_VALUE: Final = frozenset({"missing", "value_error", "assertion_error"})
_WHY: Final[dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "extra_forbidden": lambda _: "unknown key",
    "missing": lambda _: "required key is missing",
    "int_type": lambda _: "must be a whole number",
    "int_parsing": lambda _: "must be a whole number",
    "int_from_float": lambda _: "must be a whole number",
    "float_type": lambda _: "must be a number",
    "float_parsing": lambda _: "must be a number",
    "finite_number": lambda _: "must be a finite number",
    "bool_type": lambda _: "must be true or false",
    "bool_parsing": lambda _: "must be true or false",
    "string_type": lambda _: "must be text",
    "path_type": lambda _: "must be a file path",
    "tuple_type": lambda _: "must be a list",
    "list_type": lambda _: "must be a list",
    "dict_type": lambda _: "must be a mapping of keys to values",
    "model_type": lambda _: "must be a group of settings (a mapping of keys to values)",
    "model_attributes_type": lambda _: "must be a group of settings (a mapping of keys to values)",
    "greater_than": lambda ctx: f"must be above {_ctx('gt')(ctx)}",
    "greater_than_equal": lambda ctx: f"must be at least {_ctx('ge')(ctx)}",
    "less_than": lambda ctx: f"must be below {_ctx('lt')(ctx)}",
    "less_than_equal": lambda ctx: f"must be at most {_ctx('le')(ctx)}",
    "enum": lambda ctx: f"must be one of {_ctx('expected')(ctx)}",
    "literal_error": lambda ctx: f"must be one of {_ctx('expected')(ctx)}",
    "string_pattern_mismatch": lambda ctx: f"must match {_ctx('pattern')(ctx)}",
    "value_error": _value_error,
    "assertion_error": _value_error,
}


def _why(error: ErrorDetails) -> str:
    explain = _WHY.get(error["type"])
    if explain is None:
        return "is not an acceptable value"
    return explain(error.get("ctx") or {})
