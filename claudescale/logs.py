"""Structured logs: one JSON object per line (orjson), to stderr by default.

Layer: edge. Only the CLI and the demo configure logging; library code just logs through
``logging.getLogger(__name__)``, passing machine-readable fields with ``extra={...}``
(``event``, ``workload``, ``code``...). Each line holds ``ts`` (ISO-8601 UTC, milliseconds,
e.g. ``2026-05-01T12:00:00.250Z``), ``level``, ``logger``, ``message``, those extra fields,
and ``exception`` when there is one.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_QUIET_LOGGERS = ("aiohttp.access", "urllib3", "kubernetes_asyncio")


def iso_utc(unix_s: float) -> str:
    """A Unix time as ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds")
    return moment.removesuffix("+00:00") + "Z"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; values JSON cannot hold are written as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) as JSON lines,
    replacing the root logger's handlers. Returns the handler (to remove it later)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
