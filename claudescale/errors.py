"""The project's own error tree. Outside errors are mapped into it once, at the adapter boundary.

Whether an error is worth retrying is carried by the type (``retryable``), never guessed later.
"""

from __future__ import annotations


class ClaudescaleError(Exception):
    """Base of every error claudescale raises on purpose."""

    retryable = False


class ConfigError(ClaudescaleError):
    """Bad settings: the message is one line naming the key and the value."""


class ClusterError(ClaudescaleError):
    """The cluster API refused or failed a call."""


class NotFound(ClusterError):
    """The object does not exist (HTTP 404)."""


class Conflict(ClusterError):
    """A precondition failed: someone changed the object since we read it (HTTP 409)."""


class Forbidden(ClusterError):
    """Our identity may not do this (HTTP 401/403)."""


class Unavailable(ClusterError):
    """The API server did not answer in time or answered 5xx; trying later may work."""

    retryable = True


class MetricsUnavailable(ClaudescaleError):
    """Prometheus did not answer in time or answered with an error."""

    retryable = True


class AuditError(ClaudescaleError):
    """The audit log could not be written or read; nothing is changed without it."""


class StateError(ClaudescaleError):
    """The approvals, snapshots or overrides state could not be read or written."""
