"""Leadership in the engine: only the leader's executor writes; a follower refuses, fail closed.

Layer: engine. It depends on the ``Leadership`` and ``EventRecorder`` ports only. With no
leader election there is one replica and it always writes (``SOLE_WRITER``). The executor
asks ``refuse_unless_leader`` before it reads or judges anything, so a follower neither
requests approvals nor takes snapshots, and the writer asks ``may_write`` again right before
the PATCH, because a lease can be lost while a proposal is being judged. ``explain_verdicts``
is the executor's verdict listener that turns verdicts into Kubernetes Events; a
follower's refusals are left out (the leader explains the workload). Nothing here blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from claudescale.core.messages import refused
from claudescale.core.values import Code, Proposal, Verdict
from claudescale.ports import EventRecorder, Leadership

NOT_LEADER = (
    "this replica is not the leader (it does not hold the leader-election Lease, or could "
    "not renew it within the renew deadline); only the leader writes, so nothing was changed."
)
OnVerdict = Callable[[Proposal, Verdict], None]


class SoleWriter:
    """No leader election: the only replica always writes."""

    def may_write(self) -> bool:
        return True


SOLE_WRITER: Leadership = SoleWriter()


def refuse_unless_leader(leadership: Leadership, proposal: Proposal) -> Verdict | None:
    """``not_leader`` with ``NOT_LEADER`` when this replica may not write now, else None."""
    if leadership.may_write():
        return None
    return refused(Code.NOT_LEADER, proposal.ref, None, proposal.target_replicas, NOT_LEADER)


def explain_verdicts(events: EventRecorder, leadership: Leadership) -> OnVerdict:
    """A verdict listener: an Event for each verdict while this replica leads."""

    def on_verdict(proposal: Proposal, verdict: Verdict) -> None:
        if leadership.may_write():
            events.record(proposal.ref, verdict)

    return on_verdict
