"""The Dockerfile, read as text (Docker cannot run here): multi-stage, a pinned Python base,
no build tools in the final stage, a non-root user, and ``claudescale`` as the entry point."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|make|build-essential|clang|apt-get install)\b")
PINNED_PYTHON = re.compile(r"^python:3\.(\d+)\.\d+-slim-[a-z]+$")


@dataclass(slots=True)
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, ARG defaults substituted."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
            continue
        if keyword == "FROM":
            for name, default in args.items():
                rest = rest.replace(f"${{{name}}}", default).replace(f"${name}", default)
            image, _, alias = rest.partition(" AS ")
            stages.append(Stage(image.strip(), alias.strip() or str(len(stages))))
            continue
        stages[-1].instructions.append((keyword, rest))
    return stages


@pytest.fixture(scope="module")
def stages(repo: Path) -> list[Stage]:
    return parse((repo / "Dockerfile").read_text(encoding="utf-8"))


def test_the_image_is_built_in_one_stage_and_run_from_another(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    final = stages[-1]
    copies = [rest for keyword, rest in final.instructions if keyword == "COPY"]
    assert any(rest.startswith(f"--from={stages[0].name} ") for rest in copies)


def test_every_stage_starts_from_a_pinned_python_that_the_package_supports(
    stages: list[Stage],
) -> None:
    for stage in stages:
        match = PINNED_PYTHON.match(stage.image)
        assert match, f"{stage.image} is not pinned to a patch release"
        assert int(match.group(1)) >= 11, "pyproject.toml requires Python 3.11 or later"


def test_the_final_stage_has_no_build_tools(stages: list[Stage]) -> None:
    for keyword, rest in stages[-1].instructions:
        assert not BUILD_TOOLS.search(rest), f"{keyword} {rest}"
    assert any(BUILD_TOOLS.search(rest) for _, rest in stages[0].instructions), (
        "the check must be able to see build tools: the build stage installs some"
    )


def test_the_final_stage_runs_as_a_non_root_user(stages: list[Stage], repo: Path) -> None:
    users = [rest for keyword, rest in stages[-1].instructions if keyword == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    deployment = (repo / "manifests" / "deployment.yaml").read_text(encoding="utf-8")
    assert f"runAsUser: {user}" in deployment


def test_the_entry_point_is_claudescale(stages: list[Stage]) -> None:
    entry = [rest for keyword, rest in stages[-1].instructions if keyword == "ENTRYPOINT"]
    assert [json.loads(rest) for rest in entry] == [["claudescale"]]


def test_only_the_package_is_sent_to_the_build(repo: Path, stages: list[Stage]) -> None:
    ignored = (repo / ".dockerignore").read_text(encoding="utf-8").split()
    assert ignored[ignored.index("*") :].count("!claudescale/") == 1
    sources = [rest.split()[:-1] for _, rest in stages[0].instructions if _ == "COPY"]
    assert {s for group in sources for s in group} <= {"pyproject.toml", "README.md", "claudescale"}
