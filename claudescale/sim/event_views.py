"""The two views of one Event: core ``v1`` (what the store keeps) and ``events.k8s.io/v1``.

Layer: sandbox. The API server keeps one Event and serves it in both groups, renaming fields
(``involvedObject`` is ``regarding``, ``message`` is ``note``, ``count`` is ``deprecatedCount``,
...), so an Event created through either group is listed by both ``kubectl get events`` and an
``events.k8s.io`` client. ``present`` turns a stored object into the view a resource serves;
``accept`` turns what a client sent into the stored shape. Other resources pass unchanged.
"""

from __future__ import annotations

from claudescale.sim.objects import Obj
from claudescale.sim.resources import EVENTS, EVENTS_V1, Resource

_RENAMED = (
    # (core v1 field, events.k8s.io/v1 field)
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
)
_SAME = (
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
)


def _renamed(obj: Obj, pairs: tuple[tuple[str, str], ...]) -> Obj:
    out: Obj = {key: obj[key] for key in _SAME if key in obj}
    for source, target in pairs:
        if source in obj:
            out[target] = obj[source]
    return out


def stored(resource: Resource) -> Resource:
    """The resource whose shape the store keeps for ``resource``'s objects."""
    return EVENTS if resource is EVENTS_V1 else resource


def present(resource: Resource, obj: Obj) -> Obj:
    """The stored object as ``resource`` serves it."""
    if resource is not EVENTS_V1 or obj.get("kind") == "Status":
        return obj
    return {"apiVersion": EVENTS_V1.api_version, "kind": "Event", **_renamed(obj, _RENAMED)}


def accept(resource: Resource, obj: Obj) -> Obj:
    """What a client sent through ``resource``, in the shape the store keeps."""
    if resource is not EVENTS_V1:
        return obj
    flipped = tuple((new, old) for old, new in _RENAMED)
    return {"apiVersion": "v1", "kind": "Event", **_renamed(obj, flipped)}
