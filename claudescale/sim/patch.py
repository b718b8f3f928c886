"""The three PATCH forms the API server accepts: JSON merge, strategic merge, JSON patch.

Layer: sandbox. Strategic merge is simplified to what Deployments, Pods and Scale need:
maps merge recursively, ``null`` deletes a key, and lists of named objects (containers, env,
ports) merge by ``name``; other lists are replaced, and ``$patch`` directives are refused.
"""

from __future__ import annotations

import copy
from typing import Any

from claudescale.sim.objects import Obj
from claudescale.sim.status import SimApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def apply_patch(content_type: str, target: Obj, patch: Any) -> Obj:
    """A new object: ``target`` with ``patch`` applied; 400/415/422 as the API answers."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        patched = _json_patch(copy.deepcopy(target), patch)
        if not isinstance(patched, dict):
            raise SimApiError(422, "Invalid", "a JSON patch must leave an object")
        return patched
    if media not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        raise SimApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media "
            f"types include: {', '.join(PATCH_TYPES)}",
        )
    if not isinstance(patch, dict):
        raise bad_request("the body of a merge patch must be a JSON object")
    result = _merge(target, patch, strategic=media == STRATEGIC_MERGE_PATCH)
    assert isinstance(result, dict)
    return result


def _merge(target: Any, patch: Any, strategic: bool) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if strategic and "$patch" in patch:
        raise bad_request("the sandbox does not support $patch directives")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif strategic and isinstance(value, list) and _named(value) and _named(result.get(key)):
            result[key] = _merge_named_lists(result[key], value)
        else:
            result[key] = _merge(result.get(key), value, strategic)
    return result


def _named(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(i, dict) and "name" in i for i in items)


def _merge_named_lists(current: list[Any], patch: list[Any]) -> list[Any]:
    merged = [copy.deepcopy(item) for item in current]
    index = {item["name"]: i for i, item in enumerate(merged)}
    for item in patch:
        if item["name"] in index:
            position = index[item["name"]]
            merged[position] = _merge(merged[position], item, strategic=True)
        else:
            merged.append(copy.deepcopy(item))
    return merged


def _json_patch(doc: Any, operations: list[Any]) -> Any:
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request("a JSON patch operation needs 'op' and 'path'")
        kind, path = op["op"], _pointer(op["path"])
        if kind == "test":
            if _get(doc, path) != op.get("value"):
                raise SimApiError(422, "Invalid", f"the JSON patch test failed at {op['path']}")
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind in ("add", "replace"):
            if kind == "replace":
                _get(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=kind == "replace")
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, path, value, replace=False)
        else:
            raise bad_request(f"unknown JSON patch operation {kind!r}")
    return doc


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise bad_request(f"JSON pointer {text!r} must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _get(doc: Any, path: list[str]) -> Any:
    node = doc
    for part in path:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise SimApiError(
                422, "Invalid", f"the JSON patch path /{'/'.join(path)} does not exist"
            ) from None
    return node


def _add(doc: Any, path: list[str], value: Any, replace: bool) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, list):
        position = len(parent) if last == "-" else int(last)
        if replace:
            parent[position] = value
        else:
            parent.insert(position, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise SimApiError(422, "Invalid", f"cannot add below a scalar at /{'/'.join(path)}")
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise bad_request("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    _get(doc, path)
    if isinstance(parent, list):
        parent.pop(int(path[-1]))
    else:
        del parent[path[-1]]
    return doc
