"""Which refusals are transient: the world will likely look different at the next cycle.

Layer: pure core (a set of codes and one predicate; no I/O). The executor keeps a person's
approval open when an approved change is refused for one of these reasons, so the running
service tries it again at its next cycle until the approval expires; any other refusal closes
the approval, as the change it allowed will not become acceptable by waiting. Keeping an
approval open never lets a change skip a check: every retry is re-read, re-measured and judged
again, and the approval stays bound to exactly that change of that object version.
"""

from __future__ import annotations

from claudescale.core.values import Code, Verdict, WorkloadRef

TRANSIENT_REFUSALS: frozenset[Code] = frozenset(
    {
        # Prometheus restarting, or the scrape that gives a pod its first rate not done yet:
        # no reading now says nothing about whether the change is right.
        Code.METRIC_MISSING,
        # The newest sample is older than the limit: Prometheus (or its scrape of the
        # kubelet) was briefly behind; the next scrape brings a fresh one.
        Code.METRIC_STALE,
        # Some ready pods have no sample yet: right after a restart of Prometheus, or a pod
        # started less than two scrapes ago, rate() has nothing for them for a moment.
        Code.METRICS_INCOMPLETE,
        # Pods starting or restarting: a scale-down waits until they are ready, which they
        # become by themselves.
        Code.PODS_NOT_READY,
        # Another action on this workload was in flight; it ends within a write's deadline.
        Code.BUSY,
        # Before any write: the fresh read of the workload (or a state file) failed, which
        # is the API server (or the disk) being briefly unreachable: "blind" for one
        # proposal. A failed write never gets here: the approval was used up before it.
        Code.WRITE_FAILED,
    }
)
"""Refusal codes after which an approved change stays approved and is retried."""


def is_transient(verdict: Verdict) -> bool:
    """True when ``verdict`` refuses for a reason that may be gone at the next cycle."""
    return verdict.code in TRANSIENT_REFUSALS


def kept_sentence(approval_id: str, ref: WorkloadRef, code: Code) -> str:
    """What the audit log says when an approval outlives a transient refusal."""
    return (
        f"Approval {approval_id} for {ref} stays approved: the change was refused for a "
        f"passing reason ({code.value}), so the next cycle tries it again until the approval "
        "expires."
    )
