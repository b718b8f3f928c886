"""Issue 9, "Docs in the repository": ``docs/`` holds what the README links, the guardrails
page covers every rule (its code and its setting) and the operations page every command an
operator runs on a normal day."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from claudescale.cli.main import build_parser
from claudescale.core.limits import Limits
from claudescale.core.override_ceilings import OverrideCeilings
from claudescale.core.values import Code

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
NOT_GUARDRAILS = {Code.LLM_UNAVAILABLE}
"""A proposer's silence, not a rule: the rules policy decides instead (design.md)."""


def links(markdown: Path) -> list[str]:
    return [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", markdown.read_text())
        if "://" not in target
    ]


@pytest.mark.parametrize("page", ["README.md", "docs/guardrails.md", "docs/operations.md"])
def test_every_local_link_points_at_a_file_in_the_repository(page: str) -> None:
    source = REPO / page
    missing = [t for t in links(source) if not (source.parent / t).resolve().exists()]
    assert not missing, f"{page} links missing files: {missing}"


def test_the_readme_links_the_guardrails_and_operations_pages() -> None:
    targets = set(links(REPO / "README.md"))
    assert {"docs/guardrails.md", "docs/operations.md", "docs/design.md"} <= targets


def test_the_guardrails_page_names_every_code_and_every_setting() -> None:
    text = (DOCS / "guardrails.md").read_text()
    codes = [c.value for c in Code if c not in NOT_GUARDRAILS and f"`{c.value}`" not in text]
    assert not codes, f"guardrails.md does not name the codes {codes}"
    keys = [k for k in Limits.model_fields if f"`{k}`" not in text]
    assert not keys, f"guardrails.md does not name the settings {keys}"
    ceilings = [k for k in OverrideCeilings.model_fields if f"`overrides.{k}`" not in text]
    assert not ceilings, f"guardrails.md does not name the override ceilings {ceilings}"


def test_the_operations_page_shows_every_command_an_operator_runs() -> None:
    text = (DOCS / "operations.md").read_text()
    everyday = [
        "claudescale run",
        "claudescale status",
        "claudescale approvals list",
        "claudescale approve",
        "claudescale reject",
        "claudescale kill-switch on",
        "claudescale override start",
        "claudescale snapshots list",
        "claudescale rollback",
        "claudescale audit verify",
        "claudescale audit export",
        "claudescale audit seal",
        "claudescale config check",
        "claudescale clear-external",
        "CLAUDESCALE_CONFIG",
    ]
    assert not [c for c in everyday if c not in text]
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("status", "approve", "kill-switch", "rollback", "audit", "clear-external"):
        assert name in commands  # the page describes commands that exist
