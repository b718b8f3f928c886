"""What makes a reason a reason: bounded, printable text with at least one real word.

Layer: pure core. ``reason_problem`` says why a reason is refused (``reason_required``), or
None when it carries content. It normalises case, punctuation and whitespace before comparing
with placeholder phrases and words, so "No reason provided", "Reason: N/A", "<reason>." and
"TBD." are refused like "n/a". No I/O; it does not print or log the reason.

A reason passes when it is at most ``max_chars`` long, holds no control or formatting
character (carriage returns, escape sequences, bidirectional overrides, zero-width marks,
newlines: a reason is one line a human reads), has at least ``MIN_REASON_LETTERS`` letters,
and has at least one word of ``MIN_WORD_LETTERS`` or more letters that is neither a
placeholder word nor keyboard filler ("aaa", "asdfasdf", "xxx").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MIN_REASON_LETTERS: Final = 3
MIN_WORD_LETTERS: Final = 3

_UNPRINTABLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_NOT_LETTERS: Final = re.compile(r"[\W\d_]+")
_WORD: Final = re.compile(r"[^\W\d_]+")

PLACEHOLDER_PHRASES: Final = frozenset(
    {
        "",
        "n a",
        "na",
        "none",
        "none given",
        "no reason",
        "no reason given",
        "no reason provided",
        "not applicable",
        "not provided",
        "see above",
        "see below",
        "tbd",
        "tba",
        "todo",
        "to do",
        "placeholder",
        "reason",
        "reason here",
        "your reason here",
        "insert reason here",
        "unknown",
        "lorem ipsum",
        "test",
        "because",
    }
)
"""Whole reasons, normalised (casefolded, letters and digits only, single spaces)."""

PLACEHOLDER_WORDS: Final = frozenset(
    {
        # Saying that there is no reason.
        "none", "nothing", "null", "nil", "nan", "undefined", "unknown", "unspecified",
        "not", "applicable", "available", "given", "provided", "supplied", "specified",
        "reason", "reasons", "rationale", "why", "because", "cause", "explanation",
        # Pointing elsewhere or promising one later.
        "see", "above", "below", "same", "ditto", "previous", "prior", "tbd", "tba", "tbc",
        "todo", "fixme", "later", "explain", "insert", "fill", "here", "your", "the", "log",
        "logs", "details", "info", "attached", "ticket", "link", "comment", "description",
        "and", "for", "this", "that",
        # Restating the action instead of giving a reason for it.
        "scale", "scaling", "scaled", "upscale", "downscale", "hold", "holding", "increase",
        "decrease", "action", "proposal", "change", "needed", "required",
        # Template and test filler.
        "placeholder", "string", "text", "value", "example", "sample", "dummy", "test",
        "testing", "tests", "lorem", "ipsum", "dolor", "sit", "amet", "foo", "bar", "baz",
        "qux", "foobar", "blah", "asdf", "qwerty", "xyz", "abc", "etc", "misc", "generic",
        "whatever", "something", "stuff", "yes", "okay",
    }
)  # fmt: skip
"""Words that carry no content on their own; a reason needs one word that is not one."""


def normalise(reason: str) -> str:
    """Casefolded, compatibility-normalised, punctuation turned to spaces, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", reason).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def first_unprintable(text: str) -> str | None:
    """The first control, formatting or line-separating character of ``text``, if any."""
    for char in text:
        if unicodedata.category(char) in _UNPRINTABLE_CATEGORIES:
            return char
    return None


def reason_problem(reason: str, max_chars: int) -> str | None:
    """Why ``reason`` is refused, as the end of a sentence; None when it carries content."""
    stripped = reason.strip(" ")
    if len(stripped) > max_chars:
        return f"the reason is {len(stripped)} characters long, over the {max_chars} allowed."
    bad = first_unprintable(reason)
    if bad is not None:
        return (
            f"the reason holds the control character U+{ord(bad):04X}; a reason is one line "
            "of printable text."
        )
    letters = len(_NOT_LETTERS.sub("", reason))
    normalised = normalise(reason)
    if letters < MIN_REASON_LETTERS or normalised in PLACEHOLDER_PHRASES:
        return "every action needs a real reason, and this one is blank or a placeholder."
    if not any(_is_content_word(word) for word in _WORD.findall(normalised)):
        return (
            "every action needs a real reason, and this one has no word that says anything "
            "(only placeholders or filler)."
        )
    return None


def _is_content_word(word: str) -> bool:
    if len(word) < MIN_WORD_LETTERS or word in PLACEHOLDER_WORDS:
        return False
    return not _is_filler(word)


def _is_filler(word: str) -> bool:
    """A short unit typed again and again: "aaa", "xxx", "abab", "asdasd", "asdfasdf"."""
    for size in range(1, min(4, len(word) // 2) + 1):
        unit = word[:size]
        if len(word) % size == 0 and unit * (len(word) // size) == word:
            return True
    return len(set(word)) == 1
