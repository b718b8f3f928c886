"""Text from a model or the cluster, made safe to show a human on a terminal.

Layer: pure core. ``printable`` escapes every character a terminal would act on instead of
show (carriage returns, newlines, the escape character that opens ANSI sequences, C1
controls, bidirectional overrides, zero-width and other invisible marks), so a reason can
never rewrite the line a human approves from. Escapes are visible (``\\r``, ``\\x1b``,
``\\u202e``) rather than dropped, so the reader sees that something was there. No I/O.
"""

from __future__ import annotations

import unicodedata
from typing import Final

_NAMED: Final = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """``text`` with every non-printable character replaced by a visible escape."""
    if text.isprintable():
        return text  # the common case: nothing to escape (isprintable refuses all of the above)
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
