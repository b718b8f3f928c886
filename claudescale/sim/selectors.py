"""Label and field selectors in their query-string form (``labelSelector=app=web,tier!=db``).

Layer: sandbox. Supports equality (``=``, ``==``, ``!=``), existence (``key``, ``!key``) and
set-based (``key in (a,b)``, ``key notin (a)``) requirements; field selectors support
``metadata.name``, ``metadata.namespace`` and the resource's own fields (``Resource.field_paths``)
with ``=``/``==``/``!=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from claudescale.sim.objects import Obj
from claudescale.sim.status import bad_request

Predicate = Callable[[Mapping[str, str]], bool]

_SET_RE = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def _requirement(text: str) -> Predicate:
    eq = _EQ_RE.match(text)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _SET_RE.match(text)
    if not match:
        raise bad_request(f"unable to parse requirement: {text.strip()!r}")
    negated, key, op, values_text = match.groups()
    if op is None:
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    if negated:
        raise bad_request(f"unable to parse requirement: {text.strip()!r}")
    values = {v.strip() for v in values_text.split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in values
    return lambda labels: labels.get(key) not in values


def label_selector(text: str | None) -> Callable[[Obj], bool]:
    """A predicate on objects for a ``labelSelector`` query value (None or empty: all)."""
    if not text:
        return lambda obj: True
    requirements = [_requirement(part) for part in _split(text)]

    def matches(obj: Obj) -> bool:
        labels: Mapping[str, str] = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement(labels) for requirement in requirements)

    return matches


def field_selector(text: str | None, paths: Sequence[str] = ()) -> Callable[[Obj], bool]:
    """A predicate on objects for a ``fieldSelector`` query value (None or empty: all).

    ``paths`` are the dotted fields the resource supports besides ``metadata.name`` and
    ``metadata.namespace`` (``involvedObject.name`` for Events, say)."""
    if not text:
        return lambda obj: True
    known = ("metadata.name", "metadata.namespace", *paths)
    checks: list[tuple[tuple[str, ...], str, bool]] = []
    for part in _split(text):
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match or match.group(1) not in known:
            raise bad_request(
                f'"{part.strip()}" is not a known field selector: only '
                + ", ".join(f'"{field}"' for field in known)
            )
        field, op, value = match.groups()
        checks.append((tuple(field.split(".")), value, op != "!="))

    def matches(obj: Obj) -> bool:
        return all((_field(obj, path) == value) == equal for path, value, equal in checks)

    return matches


def _field(obj: Obj, path: Sequence[str]) -> str:
    """The value at a dotted path as the API compares it: a string, empty when absent."""
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)
