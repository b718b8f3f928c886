"""The sandbox's object store: resourceVersions, preconditions and bounded watch history."""

from __future__ import annotations

import pytest

from claudescale.sim.resources import NAMESPACES
from claudescale.sim.status import SimApiError
from claudescale.sim.store import ObjectStore


def _namespace(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}}


def test_every_write_increments_the_resource_version() -> None:
    store = ObjectStore()
    first = store.create(NAMESPACES, _namespace("a"))
    second = store.update(NAMESPACES, _namespace("a", team="x"))
    store.delete(NAMESPACES, "", "a")

    versions = [
        int(first["metadata"]["resourceVersion"]),
        int(second["metadata"]["resourceVersion"]),
        int(store.resource_version),
    ]
    assert versions == sorted(set(versions)) and len(versions) == 3


def test_update_with_an_old_resource_version_is_a_409_conflict() -> None:
    store = ObjectStore()
    old = store.create(NAMESPACES, _namespace("a"))["metadata"]["resourceVersion"]
    store.update(NAMESPACES, _namespace("a", team="x"))

    with pytest.raises(SimApiError) as raised:
        store.update(NAMESPACES, _namespace("a", team="y"), expect_rv=old)

    assert (raised.value.code, raised.value.reason) == (409, "Conflict")
    assert store.require(NAMESPACES, "", "a")["metadata"]["labels"] == {"team": "x"}


def test_events_since_a_version_older_than_the_history_are_410_gone() -> None:
    store = ObjectStore(history_limit=2)
    start = int(store.resource_version)
    for name in ("a", "b", "c"):
        store.create(NAMESPACES, _namespace(name))

    with pytest.raises(SimApiError) as raised:
        store.events_since(start, NAMESPACES, None)
    kept = store.events_since(start + 1, NAMESPACES, None)

    assert raised.value.code == 410 and raised.value.reason == "Expired"
    assert [e.object["metadata"]["name"] for e in kept] == ["b", "c"]


def test_compaction_forgets_history_but_current_watchers_miss_nothing() -> None:
    store = ObjectStore()
    store.create(NAMESPACES, _namespace("a"))
    current = int(store.resource_version)
    store.compact()

    assert store.events_since(current, NAMESPACES, None) == ()
    with pytest.raises(SimApiError):
        store.events_since(current - 1, NAMESPACES, None)
