"""Prometheus failures in words, for the blind message and the logs: what happened and where,
never the request (whose URL carries the whole PromQL query) and never a password.

Layer: adapter (used by ``claudescale.adapters.prometheus``).
"""

from __future__ import annotations

import ast
import re
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException

from claudescale.core.text import printable

_CAUSE_CHARS = 300
_DETAIL_CHARS = 120
_HTTP_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_CONNECT_FAILURES = (
    ("Connection refused", "the connection was refused"),
    ("Name or service not known", "the host name could not be resolved"),
    ("Temporary failure in name resolution", "the host name could not be resolved"),
    ("No route to host", "there is no route to the host"),
    ("Network is unreachable", "the network is unreachable"),
    ("RemoteDisconnected", "it closed the connection without answering"),
)


def shown_url(url: str) -> str:
    """The URL as messages show it: no user name or password."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def http_failure(exc: PrometheusApiClientException) -> str:
    """``HTTP 503 (unavailable: busy)`` from the client's "HTTP Status Code 503 (b'...')";
    never the request, whose URL carries the whole PromQL query."""
    found = _HTTP_STATUS.match(str(exc))
    if found is None:
        return "an error"
    status, body = found.group(1), found.group(2)
    try:
        answer = orjson.loads(ast.literal_eval(body))
        detail = f"{answer['errorType']}: {answer['error']}"
    except (ValueError, SyntaxError, TypeError, KeyError, orjson.JSONDecodeError):
        return f"HTTP {status}"
    return f"HTTP {status} ({printable(clip(str(detail).rstrip('.')))})"


def request_failure(exc: requests.RequestException) -> str:
    """What went wrong on the way, in words: requests' own text repeats the request URL."""
    if isinstance(exc, requests.Timeout):
        return "the connection timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    text = str(exc)
    for needle, words in _CONNECT_FAILURES:
        if needle in text:
            return words
    errno = _ERRNO.search(text)
    if errno is not None:
        return clip(errno.group(1).strip().rstrip(".").lower())
    return type(exc).__name__


def clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _CAUSE_CHARS else text[:_CAUSE_CHARS] + "…"
