"""CPU utilisation of a workload from per-pod samples, and what a reading is worth.

Layer: pure core. ``measure`` turns per-pod CPU samples (cores, from Prometheus) and the pods'
CPU requests (from the cluster) into a ``CpuReading`` the way the HorizontalPodAutoscaler
does: ready, non-terminating pods only, utilisation = sum of usage / sum of requests.
``classify`` says which metric verdict code, if any, a reading deserves. No I/O, no clock
reads: the caller passes the wall time the samples are compared with.

Nothing here ever turns bad data into a number that looks good: a NaN, infinite or negative
sample stays NaN, infinite or negative in the reading, and missing data is ``None``, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from claudescale.core.limits import Limits
from claudescale.core.values import Code, CpuReading, PodState, WorkloadRef, WorkloadState

_NAMES_SHOWN = 5
LIMIT_JITTER_TOLERANCE = 1.25
"""A reading up to this factor above what the pods' CPU limits allow is still believed:
rate() over a window extrapolates at its edges and can overshoot a throttled pod a little."""
CLOCK_SKEW_TOLERANCE_S = 5.0
"""Samples up to this far in our future count as fresh; further means our wall clock jumped
back, and a sample of unknown age is treated as stale."""


@dataclass(frozen=True, slots=True)
class PodSample:
    """One pod's CPU usage as Prometheus reports it."""

    cores: float
    """CPU usage in cores (a rate of ``container_cpu_usage_seconds_total``), summed over the
    pod's containers. May be NaN, infinite or negative when the source is broken."""
    timestamp_s: float
    """Unix time (seconds) of the newest raw sample behind ``cores``, from Prometheus."""


def _has_request(pod: PodState) -> bool:
    request = pod.cpu_request_cores
    return request is not None and math.isfinite(request) and request > 0


def _limit_percent(pods: Sequence[PodState], request_cores: float) -> float | None:
    """100 × the pods' summed CPU limits over their summed requests; None when a pod has no
    usable limit (absent, zero or not finite), since such a pod may use any idle CPU."""
    limits = [pod.cpu_limit_cores for pod in pods]
    if not limits or not all(c is not None and math.isfinite(c) and c > 0 for c in limits):
        return None
    percent = 100.0 * sum(c for c in limits if c is not None) / request_cores
    return percent if math.isfinite(percent) else None


def measure(
    state: WorkloadState, samples: Mapping[str, PodSample], *, now_wall_s: float
) -> CpuReading:
    """The workload's CPU utilisation in percent of requests, over its ready pods.

    Rules, in order:

    - Only ready, non-terminating pods count; samples of other pods (and of pods that are not
      the workload's) are ignored.
    - If any ready pod has no CPU request (None, zero, or not finite), utilisation is
      undefined, as for the HPA, which refuses to compute it: ``percent`` is None and
      ``pods_without_request`` names those pods.
    - ``percent = 100 * sum(cores) / sum(cpu_request_cores)`` over the ready pods that have a
      sample. Broken samples propagate: when any sample used is NaN, infinite or negative,
      only those samples are summed, so ``percent`` is NaN, infinite or negative and never a
      plausible number (nor 0). Sums too large for a float give an infinite (usage) or NaN
      (requests) ``percent``.
    - ``limit_percent`` is what the measured pods' CPU limits allow, when every one of them
      has a limit (see ``believable_ceiling_percent``).
    - ``missing_pods`` names the ready pods without a sample. When no ready pod has one (or
      there is no ready pod), ``percent`` is None.
    - ``age_s`` is ``now_wall_s`` minus the oldest sample timestamp used. Up to
      ``CLOCK_SKEW_TOLERANCE_S`` in our future counts as 0 (a Prometheus clock slightly
      ahead); further in our future, or a timestamp that is not finite, is infinite (our
      wall clock jumped back, so the age is unknown and the reading is stale). It is 0.0
      when no sample was used.
    """
    ready = state.ready_pods
    without_request = tuple(pod.name for pod in ready if not _has_request(pod))
    missing = tuple(pod.name for pod in ready if pod.name not in samples)
    if without_request:
        return CpuReading(None, missing_pods=missing, pods_without_request=without_request)
    measured = [pod for pod in ready if pod.name in samples]
    if not measured:
        return CpuReading(None, missing_pods=missing)
    used = [samples[pod.name] for pod in measured]
    broken = [s.cores for s in used if not (math.isfinite(s.cores) and s.cores >= 0)]
    # Broken samples alone decide: summed with sound ones, a negative sample could cancel
    # out into a plausible number. Plain sum(): an overflow becomes inf (refused), where
    # fsum() would raise.
    usage_cores = sum(broken) if broken else sum(s.cores for s in used)
    request_cores = sum(pod.cpu_request_cores or 0.0 for pod in measured)
    if not math.isfinite(request_cores):
        # Requests too large to add up would make any usage look like 0 %.
        usage_cores = math.nan
    return CpuReading(
        percent=100.0 * usage_cores / request_cores,
        age_s=_age_s(used, now_wall_s),
        missing_pods=missing,
        limit_percent=_limit_percent(measured, request_cores),
    )


def _age_s(used: Sequence[PodSample], now_wall_s: float) -> float:
    timestamps = [sample.timestamp_s for sample in used]
    if not all(math.isfinite(ts) for ts in timestamps) or not math.isfinite(now_wall_s):
        return math.inf
    age_s = now_wall_s - min(timestamps)
    if -CLOCK_SKEW_TOLERANCE_S <= age_s < 0:
        return 0.0  # a Prometheus clock slightly ahead of ours is not "fresher than now"
    return age_s if age_s >= 0 else math.inf  # far in our future: our clock jumped back


def classify(reading: CpuReading, limits: Limits, ref: WorkloadRef) -> tuple[Code, str] | None:
    """The metric verdict a reading deserves, with a sentence naming the workload; None if sound.

    Checked in this order, first match wins:
    ``metric_missing`` (pods without a CPU request, no ready pod, or no sample at all),
    ``metric_invalid`` (NaN, infinite, negative, or above ``believable_ceiling_percent``: the
    pods' CPU limits where they all have one, and ``limits.cpu_percent_ceiling`` always),
    ``metric_stale`` (``age_s`` above ``limits.metric_max_age_s``; exactly the limit is fresh),
    ``metrics_incomplete`` (some ready pods had no sample).
    """
    if reading.pods_without_request:
        return (
            Code.METRIC_MISSING,
            f"CPU utilisation of {ref} is undefined: ready pods "
            f"{_names(reading.pods_without_request)} have no CPU request.",
        )
    if reading.percent is None:
        if reading.missing_pods:
            count = len(reading.missing_pods)
            return (
                Code.METRIC_MISSING,
                f"CPU utilisation of {ref} is missing: none of its {count} ready pods has a "
                f"CPU sample ({_names(reading.missing_pods)}).",
            )
        return (
            Code.METRIC_MISSING,
            f"CPU utilisation of {ref} is missing: it has no ready pod to measure.",
        )
    percent = reading.percent
    if not math.isfinite(percent):
        return (
            Code.METRIC_INVALID,
            f"CPU utilisation of {ref} is {percent}, not a finite number.",
        )
    if percent < 0:
        return (
            Code.METRIC_INVALID,
            f"CPU utilisation of {ref} is negative ({percent:.1f} %).",
        )
    ceiling = believable_ceiling_percent(reading, limits)
    if percent > ceiling:
        if ceiling < limits.cpu_percent_ceiling:
            why = (
                f"more than its pods' CPU limits allow ({reading.limit_percent:.0f} % of "
                f"requests, believed up to {ceiling:.0f} %)"
            )
        else:
            why = f"above the believable ceiling of {ceiling:g} %"
        return (
            Code.METRIC_INVALID,
            f"CPU utilisation of {ref} is {percent:.1f} %, {why}.",
        )
    if not reading.age_s <= limits.metric_max_age_s:
        return (
            Code.METRIC_STALE,
            f"CPU utilisation of {ref} is {reading.age_s:.1f} s old, older than the "
            f"{limits.metric_max_age_s:g} s limit.",
        )
    if reading.missing_pods:
        return (
            Code.METRICS_INCOMPLETE,
            f"CPU utilisation of {ref} is incomplete: ready pods "
            f"{_names(reading.missing_pods)} have no CPU sample.",
        )
    return None


def believable_ceiling_percent(reading: CpuReading, limits: Limits) -> float:
    """The highest utilisation a reading may show and be believed, in percent of requests.

    Pods cannot use more CPU than their limits (the kernel throttles them), so when every
    measured pod has a limit, anything above ``limit_percent`` (with ``LIMIT_JITTER_TOLERANCE``
    for rate() jitter) is a broken source. The operator's ``cpu_percent_ceiling`` always
    applies too.
    """
    ceiling = limits.cpu_percent_ceiling
    if reading.limit_percent is not None:
        ceiling = min(ceiling, reading.limit_percent * LIMIT_JITTER_TOLERANCE)
    return ceiling


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    hidden = len(names) - _NAMES_SHOWN
    return f"{shown} and {hidden} more" if hidden > 0 else shown
