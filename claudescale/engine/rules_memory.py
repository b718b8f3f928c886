"""What the rules proposer remembers of each workload between cycles.

Layer: orchestration support (no I/O; times are monotonic seconds handed in by the rules
proposer, read from the injected clock). Per workload: when its count of ready pods changed
within the CPU ``rate()`` window (to correct readings whose window spans the change) and the
replicas the rules wanted over the scale-down stabilisation window. The arithmetic is
``claudescale.core.stabilisation``'s; this module only keeps the samples it needs, and drops
a workload the rules have not been asked about for longer than either window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from claudescale.core.stabilisation import NEVER, highest_desired, pod_mix_factor
from claudescale.core.values import WorkloadRef


@dataclass(slots=True)
class WorkloadRulesMemory:
    pods: deque[tuple[float, int]] = field(default_factory=deque)
    """(monotonic s, ready pods) at each change of the count, oldest first; the first is the
    count at the start of the rate window, timed ``NEVER``."""
    desired: deque[tuple[float, int]] = field(default_factory=deque)
    """(monotonic s, replicas the rules wanted), oldest first."""
    seen_at: float = NEVER

    def note_ready(self, ready_pods: int, now: float, window_s: float) -> None:
        """Remember this cycle's count of ready pods."""
        self.seen_at = now
        if not self.pods:
            self.pods.append((NEVER, ready_pods))
        elif self.pods[-1][1] != ready_pods:
            self.pods.append((now, ready_pods))
        # A change that left the window no longer shapes any rate: the count it set is the
        # window's starting count.
        while len(self.pods) > 1 and self.pods[1][0] <= now - window_s:
            self.pods.popleft()
            self.pods[0] = (NEVER, self.pods[0][1])

    def mix_factor(self, now: float, window_s: float) -> float:
        return pod_mix_factor(tuple(self.pods), now, window_s)

    def note_desired(self, replicas: int, now: float, window_s: float) -> int | None:
        """Remember what the rules want now; return the highest wanted within the window."""
        # An older count no higher than this one can never be the highest again (this one
        # stays in the window longer): dropping it keeps at most one entry per count, not
        # one per cycle (thousands of workloads polled every second).
        while self.desired and self.desired[-1][1] <= replicas:
            self.desired.pop()
        self.desired.append((now, replicas))
        while self.desired and self.desired[0][0] < now - window_s:
            self.desired.popleft()
        return highest_desired(self.desired, now, window_s)


class RulesMemory:
    """``WorkloadRulesMemory`` per workload, forgotten after ``keep_s`` unasked."""

    def __init__(self, keep_s: float) -> None:
        self._keep_s = keep_s
        self._workloads: dict[WorkloadRef, WorkloadRulesMemory] = {}

    def __len__(self) -> int:
        return len(self._workloads)

    def of(self, ref: WorkloadRef) -> WorkloadRulesMemory:
        return self._workloads.setdefault(ref, WorkloadRulesMemory())

    def forget_unseen(self, now: float) -> None:
        """Drop the workloads not asked about within ``keep_s`` (gone, or answered by a
        model all that time: their old samples would mislead)."""
        stale = [ref for ref, m in self._workloads.items() if m.seen_at < now - self._keep_s]
        for ref in stale:
            del self._workloads[ref]
