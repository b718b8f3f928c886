"""The write: a durable intent, the compare-and-swap patch of ``deployments/scale``, the outcome.

Layer: engine (called only by the executor, after its decision said ``write`` and the
snapshot is taken; the only code that calls ``Cluster.scale``). It never retries: a 409 is
``conflict``, and a write whose answer was lost is checked by a re-read before it is called
failed. Once the intent is on disk the write and its outcome record finish even if the task
is cancelled (shielded, under the API deadline): an intent never stays without an outcome.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import anyio

from claudescale.config import Settings
from claudescale.core.messages import refused
from claudescale.core.values import Code, Outcome, Proposal, Verdict, WorkloadState
from claudescale.engine.cooldown_memory import CooldownMemory
from claudescale.engine.leadership import NOT_LEADER
from claudescale.errors import ClusterError, Conflict, NotFound
from claudescale.ports import AuditSink, Cluster

log = logging.getLogger(__name__)


class ScaleWriter:
    def __init__(
        self,
        cluster: Cluster,
        audit: AuditSink,
        settings: Settings,
        memory: CooldownMemory,
        *,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        """``may_write`` is asked right before the PATCH (leader election: a lease can be
        lost while a proposal is judged); False refuses the write with ``NOT_LEADER``."""
        self._cluster, self._audit = cluster, audit
        self._may_write = may_write
        self._cluster_settings = settings.cluster
        self._memory = memory

    async def write(self, state: WorkloadState, proposal: Proposal, snapshot_id: str) -> Verdict:
        ref, before, after = state.ref, state.replicas, proposal.target_replicas
        intent_id = uuid.uuid4().hex
        self._audit.append(
            "intent",
            {
                "workload": str(ref),
                "intent_id": intent_id,
                "proposal_id": proposal.proposal_id,
                "snapshot_id": snapshot_id,
                "approval_id": proposal.approval_id,
                "uid": state.uid,
                "from": before,
                "to": after,
                "resource_version": state.resource_version,
                "source": proposal.source.value,
                "actor": proposal.actor or proposal.source.value,
            },
            durable=True,
        )
        with anyio.CancelScope(shield=True):
            code, message, maybe_landed = await self._patch(state, after)
            self._memory.after_write(
                ref, before, after, landed=code is Code.OK, maybe_landed=maybe_landed
            )
            self._audit.append(
                "outcome",
                {
                    "workload": str(ref),
                    "intent_id": intent_id,
                    "proposal_id": proposal.proposal_id,
                    "code": "unknown" if maybe_landed else code.value,
                    "from": before,
                    "to": after,
                    "message": message,
                },
                durable=True,
            )
        if code is Code.OK:
            why = proposal.reason.strip()
            return Verdict(
                Outcome.EXECUTED, Code.OK, f"Scaled {ref} {before}→{after}: {why}", before, after
            )
        return refused(code, ref, before, after, message)

    async def _patch(self, state: WorkloadState, replicas: int) -> tuple[Code, str, bool]:
        """Write, and say how it went: (code, sentence, whether it may have landed unseen)."""
        ref = state.ref
        if not self._may_write():
            return Code.NOT_LEADER, NOT_LEADER, False
        try:
            with anyio.fail_after(self._cluster_settings.request_timeout_s):
                await self._cluster.scale(ref, replicas, state.resource_version)
        except Conflict:
            why = "someone changed the Deployment since we read it (409); not retried."
            return Code.CONFLICT, why, False
        except NotFound:
            return Code.TARGET_GONE, "the Deployment was deleted before the write.", False
        except ClusterError as exc:
            if not exc.retryable:
                return Code.WRITE_FAILED, f"the API server refused the write ({exc}).", False
            lost: Exception = exc
        except (TimeoutError, OSError) as exc:
            lost = exc
        except Exception as exc:
            log.exception("Unexpected error from the cluster adapter while scaling %s.", ref)
            lost = exc
        else:
            return Code.OK, "written.", False
        # The answer was lost, not necessarily the write: look before saying it failed.
        landed = await self._write_landed(state, replicas)
        if landed:
            return Code.OK, "written (confirmed by a re-read after a lost answer).", False
        what = f"{type(lost).__name__}: {lost}"
        if landed is None:
            why = (
                f"the write's answer was lost ({what}) and the workload could not be re-read; "
                "it counts as executed for cooldowns in case it landed."
            )
            return Code.WRITE_FAILED, why, True
        return Code.WRITE_FAILED, f"the write failed ({what}); a re-read shows it did not.", False

    async def _write_landed(self, state: WorkloadState, replicas: int) -> bool | None:
        """Whether a write whose answer was lost is visible; None when we cannot tell."""
        try:
            with anyio.fail_after(self._cluster_settings.read_timeout_s):
                fresh = await self._cluster.read_workload(state.ref)
        except (ClusterError, TimeoutError):
            return None
        return fresh.replicas == replicas and fresh.resource_version != state.resource_version
