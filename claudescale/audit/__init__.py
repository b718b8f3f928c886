"""The tamper-evident audit log: append-only, hash-chained JSON lines, rotated by size.

Layer: orchestration support (local files only); it must not speak to the cluster, metrics
or models. ``AuditLog`` writes (the ``AuditSink`` port), ``iter_records`` and
``select_records`` stream, ``verify`` checks the chain, ``recovery_records`` gives the
executor what it must remember after a restart. The format is described in
``claudescale.audit.format``.

Record kinds: per proposal ``proposal``, ``evaluation`` (every input of the verdict),
``intent`` and ``outcome`` around a write, and exactly one ``verdict``; the executor also
writes ``external_change``, ``external_controller_set``, ``external_controller_cleared``,
``restart`` and ``seeded``; the gatekeeper writes the approval, snapshot and override events
(see ``claudescale.control.store_events``); the loop writes ``blind``, ``sight_restored``,
``proposer_unavailable``, ``cycle``, ``shutdown`` and ``shutdown_abandoned``; the log itself
writes ``torn_tail``, ``retention`` and ``state_checkpoint`` (binding the start-up snapshot
``<log>.recovered``, ``claudescale.audit.state``); the executor's memory writes
``cooldown_anchored`` (the cluster's ``managedFields`` time started the cooldowns) and
``restart`` with ``damage`` when the log did not verify; ``claudescale audit seal`` starts a
new chain with ``sealed``.

The chain's end is anchored in ``<log>.checkpoint`` and, once retention deleted old segments,
its start in ``<log>.anchor`` (``claudescale.audit.checkpoint``).
"""

from __future__ import annotations

from claudescale.audit.format import ENVELOPE_KEYS, ZERO_HASH, Segment, list_segments
from claudescale.audit.log import AuditLog
from claudescale.audit.reader import RecordFilter, iter_records, select_records
from claudescale.audit.recovery import Recovery, recover_from, recovery_records
from claudescale.audit.verify import VerifyResult, verify

__all__ = [
    "ENVELOPE_KEYS",
    "ZERO_HASH",
    "AuditLog",
    "RecordFilter",
    "Recovery",
    "Segment",
    "VerifyResult",
    "iter_records",
    "list_segments",
    "recover_from",
    "recovery_records",
    "select_records",
    "verify",
]
