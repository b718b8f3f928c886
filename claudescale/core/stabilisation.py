"""The arithmetic the rules policy carries from one cycle to the next.

Layer: pure core. Two corrections the stateless rules (``claudescale.core.rules``) cannot make
from one reading, each a function of what the engine remembers and hands in:

- ``desired_replicas`` is one cycle's recommendation as the HPA records it (the current count
  inside the tolerance band, else proportional), and ``highest_desired`` the highest of those
  within the scale-down stabilisation window: the rules scale down only to a count they have
  wanted for the whole window, so a noisy load does not flap.
- ``pod_mix_factor`` is how much a ``rate()`` reading overstates the CPU per pod while its
  window still spans a change of ready pods: after a scale-up the older pods' rates still
  hold their hotter past, after a scale-down they understate the load the fewer pods carry.

No I/O and no clock reads: times are monotonic seconds handed in. Nothing here can move a
workload past the guardrails; the executor still judges every proposal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

NEVER: Final = -math.inf
"""The time of the first pod count remembered: the pods were there before any window."""


def desired_replicas(
    replicas: int,
    percent: float,
    *,
    target_cpu_percent: float,
    tolerance: float,
    min_replicas: int,
    max_replicas: int,
) -> int:
    """The replicas proportional control wants for ``percent`` at ``replicas``, as the HPA's
    recommendation: unchanged inside the tolerance band (edges included), otherwise
    ``ceil(replicas × percent / target)``, within the bounds."""
    deviation, band = abs(percent - target_cpu_percent), tolerance * target_cpu_percent
    if deviation <= band or math.isclose(deviation, band, rel_tol=1e-9):
        wanted = replicas
    else:
        # The relative epsilon keeps 4.0000000001 replicas (float rounding) at 4.
        wanted = math.ceil(replicas * percent / target_cpu_percent - 1e-9)
    return min(max(wanted, min_replicas), max_replicas)


def highest_desired(
    desired: Iterable[tuple[float, int]], now: float, window_s: float
) -> int | None:
    """The highest (monotonic s, replicas) recommendation made within ``window_s`` of
    ``now``, edges included; None when there is none."""
    return max((count for at, count in desired if at >= now - window_s), default=None)


def pod_mix_factor(changes: Sequence[tuple[float, int]], now: float, window_s: float) -> float:
    """By how much the mean per-pod ``rate()`` over ``window_s`` ending at ``now`` overstates
    the CPU per pod of the ready pods there are now, for a steady demand.

    ``changes`` are (monotonic s, ready pods) each time the count changed, oldest first; the
    first entry's time may be ``NEVER``. Pods added by a change count from its time; pods
    removed are the newest, as a ReplicaSet removes them. A pod's rate averages the demand
    per pod over its part of the window, so with demand D spread over n(s) pods and n pods
    now, a pod's reading over [a, now] is D/n times the mean of n/n(s) over [a, now]. The
    factor is that mean averaged over the pods now (1.0 when the count did not change within
    the window; above 1 after a scale-up, below after a scale-down). Dividing the reading by
    it gives the CPU per pod of the present pods.
    """
    if not changes or window_s <= 0:
        return 1.0
    births: list[float] = []
    for at, count in changes:
        if count >= len(births):
            births.extend([at] * (count - len(births)))
        else:
            del births[count:]
    now_pods = len(births)
    start = now - window_s
    if now_pods == 0 or all(at <= start for at, _ in changes[1:]):
        return 1.0
    ends = [at for at, _ in changes[1:]] + [now]

    def mean_ratio(since: float) -> float:
        if since >= now:
            return 1.0
        weighted = 0.0
        for (at, count), end in zip(changes, ends, strict=True):
            low, high = max(at, since), min(end, now)
            if high > low and count > 0:
                weighted += (high - low) * now_pods / count
        return weighted / (now - since)

    return math.fsum(mean_ratio(max(born, start)) for born in births) / now_pods
