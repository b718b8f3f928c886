"""``metadata.managedFields`` for a Deployment's replicas, kept the way the API server keeps
them: a write to the scale subresource records its field manager (``operation: Update``,
``subresource: scale``, the parent's ``apiVersion``, ``time`` in RFC 3339 seconds,
``fieldsType: FieldsV1`` owning ``f:spec.f:replicas``); a later change of the replicas by
anyone else takes that field over, and an entry left owning nothing is dropped.

Layer: sandbox. Pure functions on the metadata's list; the API routes call them.
"""

from __future__ import annotations

import copy
from typing import Any

from claudescale.sim import objects

REPLICAS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
"""The fields a scale write owns, in FieldsV1 form."""


def after_replicas_write(
    entries: list[dict[str, Any]] | None, manager: str | None, wall_s: float
) -> list[dict[str, Any]]:
    """The entries after the replicas changed: by ``manager`` through the scale subresource
    (its entry is written or refreshed), or by a write without one (``manager`` None)."""
    kept = []
    for entry in copy.deepcopy(entries or []):
        if manager is not None and _is_scale_entry(entry, manager):
            continue
        fields = entry.get("fieldsV1") or {}
        spec = fields.get("f:spec")
        if isinstance(spec, dict):
            spec.pop("f:replicas", None)
            if not spec:
                fields.pop("f:spec")
        if fields:
            kept.append(entry)
    if manager is not None:
        kept.append(
            {
                "manager": manager,
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": objects.rfc3339(wall_s),
                "fieldsType": "FieldsV1",
                "fieldsV1": copy.deepcopy(REPLICAS),
                "subresource": "scale",
            }
        )
    return kept


def _is_scale_entry(entry: dict[str, Any], manager: str) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("subresource") == "scale"
        and entry.get("operation") == "Update"
    )
