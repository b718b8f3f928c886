"""Label and field selectors in query-string form."""

from __future__ import annotations

import pytest

from claudescale.sim.selectors import field_selector, label_selector
from claudescale.sim.status import SimApiError

POD = {
    "metadata": {"name": "web-1", "namespace": "demo", "labels": {"app": "web", "tier": "front"}}
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web,tier=front", True),
        ("app=api", False),
        ("app!=api", True),
        ("tier", True),
        ("!tier", False),
        ("!db", True),
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("app=web,tier in (back)", False),
    ],
)
def test_label_selector_requirements(selector: str, matches: bool) -> None:
    assert label_selector(selector)(POD) is matches


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=web-1", True),
        ("metadata.namespace!=demo", False),
        ("metadata.name==web-2", False),
    ],
)
def test_field_selector_on_name_and_namespace(selector: str, matches: bool) -> None:
    assert field_selector(selector)(POD) is matches


def test_unparseable_selectors_are_400() -> None:
    with pytest.raises(SimApiError) as raised:
        label_selector("app in web")
    with pytest.raises(SimApiError):
        field_selector("spec.nodeName=x")
    assert raised.value.code == 400
