"""Label and field selectors in their query-string form (``labelSelector=app=web,tier!=db``).

Layer: sandbox. Supports equality (``=``, ``==``, ``!=``), existence (``key``, ``!key``) and
set-based (``key in (a,b)``, ``key notin (a)``) requirements; field selectors support
``metadata.name`` and ``metadata.namespace`` with ``=``/``==``/``!=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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


def field_selector(text: str | None) -> Callable[[Obj], bool]:
    """A predicate on objects for a ``fieldSelector`` query value (None or empty: all)."""
    if not text:
        return lambda obj: True
    checks: list[tuple[str, str, bool]] = []
    for part in _split(text):
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match or match.group(1) not in ("metadata.name", "metadata.namespace"):
            raise bad_request(
                f'"{part.strip()}" is not a known field selector: only '
                '"metadata.name", "metadata.namespace"'
            )
        field, op, value = match.groups()
        checks.append((field.split(".")[1], value, op != "!="))

    def matches(obj: Obj) -> bool:
        meta: Mapping[str, Any] = obj.get("metadata") or {}
        return all((str(meta.get(field, "")) == value) == equal for field, value, equal in checks)

    return matches
