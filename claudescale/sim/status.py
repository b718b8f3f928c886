"""API errors as the server reports them: ``Status`` bodies with a code and a reason.

Layer: sandbox. Handlers raise SimApiError; the server renders ``status()`` with its code.
Messages follow the real API server's wording, which clients and tests match on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]


class SimApiError(Exception):
    """An API answer other than success; rendered as a ``Status`` body with this code."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> Obj:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(
    code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
) -> Obj:
    """A ``meta/v1 Status`` as the API server sends it with an error."""
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = dict(details)
    return body


def not_found(kind_key: str, name: str, group: str, plural: str) -> SimApiError:
    return SimApiError(
        404,
        "NotFound",
        f'{kind_key} "{name}" not found',
        {"name": name, "group": group, "kind": plural},
    )


def conflict(kind_key: str, name: str, group: str, plural: str) -> SimApiError:
    return SimApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind_key} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": plural},
    )


def already_exists(kind_key: str, name: str, group: str, plural: str) -> SimApiError:
    return SimApiError(
        409,
        "AlreadyExists",
        f'{kind_key} "{name}" already exists',
        {"name": name, "group": group, "kind": plural},
    )


def bad_request(message: str) -> SimApiError:
    return SimApiError(400, "BadRequest", message)


def error_for_status(code: int, what: str) -> SimApiError:
    """An injected failure (``fail_next_write``) with the reason the API uses for ``code``."""
    reasons = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    reason = reasons.get(code, "Unknown")
    return SimApiError(code, reason, f"The sandbox was told to fail this write on {what}.")


def check_replicas(kind_key: str, name: str, replicas: object) -> None:
    """422 Invalid unless ``replicas`` is a JSON integer of at least 0."""
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        group = kind_key.partition(".")[2]
        raise SimApiError(
            422,
            "Invalid",
            f'{kind_key} "{name}" is invalid: spec.replicas: Invalid value: {replicas!r}: '
            "must be greater than or equal to 0",
            {"name": name, "group": group, "kind": kind_key.partition(".")[0]},
        )
