"""Mapping what kubernetes-asyncio and aiohttp raise into claudescale's error tree, once.

Layer: adapter. 404 is NotFound, 409 Conflict, 401/403 Forbidden; 429, 5xx, timeouts and
connection failures are Unavailable (retryable). Anything else the API refuses (400, 422, ...)
is a plain ClusterError. The original exception is kept as the cause by the caller
(``raise map_error(exc, what) from exc``).
"""

from __future__ import annotations

import json

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from claudescale.errors import ClusterError, Conflict, Forbidden, NotFound, Unavailable


def api_exception(status: int, reason: str | None, body: bytes) -> ApiException:
    """The ApiException kubernetes-asyncio raises for a non-2xx answer, from a raw one."""
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


def status_message(exc: ApiException) -> str:
    """The ``message`` of the Status body the API server sent, else the HTTP reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            text = body.decode() if isinstance(body, bytes) else str(body)
            message = json.loads(text).get("message")
            if message:
                return str(message)
        except (ValueError, AttributeError):
            pass
    return str(getattr(exc, "reason", "") or "no reason given")


def map_error(exc: BaseException, what: str, timeout_s: float | None = None) -> ClusterError:
    """The ClusterError for a failure while doing ``what`` (e.g. "scaling demo/web to 4")."""
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        detail = f"{status_message(exc)} (HTTP {status})"
        if status == 404:
            return NotFound(f"Kubernetes found nothing while {what}: {detail}.")
        if status == 409:
            return Conflict(f"Kubernetes refused {what} because the object changed: {detail}.")
        if status in (401, 403):
            return Forbidden(f"Kubernetes denied {what} to our identity: {detail}.")
        if status == 0 or status == 429 or status >= 500:
            return Unavailable(f"Kubernetes could not serve {what} now: {detail}.")
        return ClusterError(f"Kubernetes rejected {what}: {detail}.")
    if isinstance(exc, TimeoutError):
        limit = f" within {timeout_s:g} s" if timeout_s is not None else ""
        return Unavailable(f"Kubernetes did not answer {what}{limit}.")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Unavailable(
            f"Kubernetes could not be reached while {what}: {type(exc).__name__}: {exc}."
        )
    if isinstance(exc, ValueError):
        return ClusterError(f"Kubernetes sent an answer we cannot read while {what}: {exc}.")
    return ClusterError(f"Kubernetes call failed while {what}: {type(exc).__name__}: {exc}.")
