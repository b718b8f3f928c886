"""Emergency overrides as the executor applies them: checked again, applied, audited.

Layer: engine (called by ``HumanControl.with_overrides`` only). An override was checked
against the settings' ceilings when it started (``claudescale override start``), but its file
can be edited by hand, and the settings can change: so each active override is checked again
against the limits it would widen, and one beyond a ceiling is skipped (fail closed: the
settings' limits apply) and audited, as is every override used. It never writes the stores.
"""

from __future__ import annotations

import logging

from claudescale.config import Settings
from claudescale.control.overrides import Override, beyond_ceilings
from claudescale.control.overrides import apply as apply_overrides
from claudescale.core.limits import Limits
from claudescale.core.values import Proposal, WorkloadRef
from claudescale.ports import AuditSink

log = logging.getLogger(__name__)


def overridden_limits(
    ref: WorkloadRef,
    base: Limits,
    proposal: Proposal,
    active: list[Override],
    *,
    settings: Settings,
    audit: AuditSink,
) -> Limits:
    """``base`` with those of the ``active`` overrides that are within the settings' ceilings."""
    usable: list[Override] = []
    for override in active:
        problem = beyond_ceilings(
            override, base, settings.overrides, settings.approvals.override_max_s
        )
        if problem is None:
            usable.append(override)
        else:
            _skip(audit, ref, [override], f"Skipped {problem}")
    if not usable:
        return base
    try:
        limits = apply_overrides(base, usable)
    except ValueError as exc:
        _skip(audit, ref, usable, f"Skipped the overrides together: {exc}")
        return base
    for override in usable:
        audit.append(
            "override_used",
            {
                "override_id": override.id,
                "workload": str(ref),
                "proposal_id": proposal.proposal_id,
                "changes": dict(override.changes),
                "actor": override.who,
                "why": override.why,
                "source": proposal.source.value,
            },
        )
    return limits


def _skip(audit: AuditSink, ref: WorkloadRef, overrides: list[Override], why: str) -> None:
    message = f"{why.rstrip('.')}; the settings' limits apply to {ref}."
    audit.append(
        "override_skipped",
        {"workload": str(ref), "override_ids": [o.id for o in overrides], "error": message},
    )
    log.warning(message, extra={"event": "override_skipped", "workload": str(ref)})
