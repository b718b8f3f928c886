"""Where a command finds the service's settings and state, and what it says when it cannot.

Layer: edge (CLI). Every command's ``--config`` defaults to ``CLAUDESCALE_CONFIG``
(``claudescale.config.load_settings`` reads it). A command that reads or changes the
service's state (approvals, snapshots, overrides, the kill switch, status) needs to know where
that state is: from a settings file, from ``CLAUDESCALE_AUDIT__PATH`` or
``CLAUDESCALE_APPROVALS__STATE_DIR``, or from a state directory already in the current
directory. Without any of them it stops with one line saying so and where it looked, rather
than answer "nothing is waiting" from, or create, an empty state of its own.
"""

from __future__ import annotations

from pathlib import Path

from claudescale.config import CONFIG_ENV, Settings, load_settings, state_dir_for
from claudescale.errors import ConfigError


def state_settings(config: Path | None) -> Settings:
    """The settings of a command that works on the service's state (see the module)."""
    settings = load_settings(config)
    named = (
        settings.source_path is not None
        or "path" in settings.audit.model_fields_set
        or settings.approvals.state_dir is not None
    )
    where = state_dir_for(settings).absolute()
    if not named and not where.is_dir():
        raise ConfigError(
            f"No settings file was given (--config FILE or {CONFIG_ENV}) and there is no "
            f"claudescale state at {where}, so there is nothing to read; nothing was changed."
        )
    return settings
