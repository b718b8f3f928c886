"""The simulated service on a virtual clock: pods, their CPU counters, and the metrics pipeline.

Layer: benchmark (pure; time is passed in, never read). One Deployment of pods that request
250m like the sandbox's, capped at a 1000m limit. A new pod starts and becomes ready after
``startup_s``; a removed pod stops serving at once and disappears after ``termination_s``.
The demand of each second is split evenly over the ready pods. Each pod has a cAdvisor-style
CPU counter; a Prometheus-style scraper samples every counter every ``scrape_interval_s``, and
a controller sees ``rate()`` over ``rate_window_s`` per pod: the usage averaged over the
window, as of the last scrape, so it sees load late and smoothed, as in a real cluster.

``rate`` here is (newest - oldest sample) / (their time apart) inside the window. Prometheus
also extrapolates to the window's edges; for a counter of steady slope both give the same
rate, and the simulator leaves the extrapolation out. It does not change the cluster by
itself: replicas move only through ``set_replicas``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

REQUEST_CORES = 0.25
LIMIT_CORES = 1.0


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Delays between load and what a controller sees; the defaults are claudescale's
    settings (``prometheus.scrape_interval_s``, ``prometheus.rate_window``) and the
    sandbox's start-up delay."""

    scrape_interval_s: float = 15.0
    rate_window_s: float = 120.0
    startup_s: float = 5.0
    termination_s: float = 10.0
    tick_s: float = 1.0


@dataclass(slots=True)
class Pod:
    name: str
    created_s: float
    ready_at_s: float
    terminating_since_s: float | None = None
    cpu_seconds: float = 0.0
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    """(scrape time, counter) pairs, newest last, as Prometheus keeps them."""

    def ready(self, now_s: float) -> bool:
        return self.terminating_since_s is None and now_s >= self.ready_at_s


@dataclass(frozen=True, slots=True)
class PodRate:
    cores: float
    timestamp_s: float
    """Time of the newest sample behind the rate."""


class World:
    """One Deployment under a demand; each tick: ``begin_tick``, controllers, ``serve``."""

    def __init__(self, pipeline: Pipeline, replicas: int, now_s: float) -> None:
        self.pipeline = pipeline
        self.replicas = replicas
        self.pods: list[Pod] = []
        self._serial = 0
        self._next_scrape_s = now_s
        for _ in range(replicas):
            self._create(now_s, ready_at_s=now_s)

    def _create(self, now_s: float, *, ready_at_s: float) -> None:
        self._serial += 1
        self.pods.append(Pod(f"web-{self._serial}", now_s, ready_at_s))

    # -- what a controller may change -----------------------------------------------------

    def set_replicas(self, replicas: int, now_s: float) -> None:
        """Create or remove pods as a ReplicaSet would: not-ready pods go first, then the
        newest (controller.ReplicaSet's ActivePods ordering, simplified)."""
        self.replicas = replicas
        live = [p for p in self.pods if p.terminating_since_s is None]
        for _ in range(replicas - len(live)):
            self._create(now_s, ready_at_s=now_s + self.pipeline.startup_s)
        if len(live) > replicas:
            # Newest first among equals: the list is in creation order and sorting is stable.
            doomed = sorted(reversed(live), key=lambda p: (p.ready(now_s), -p.created_s))
            for pod in doomed[: len(live) - replicas]:
                pod.terminating_since_s = now_s

    # -- time -----------------------------------------------------------------------------

    def ready_pods(self, now_s: float) -> list[Pod]:
        return [p for p in self.pods if p.ready(now_s)]

    def served_per_pod_cores(self, demand_cores: float, now_s: float) -> float:
        ready = len(self.ready_pods(now_s))
        return min(demand_cores / ready, LIMIT_CORES) if ready else 0.0

    def begin_tick(self, now_s: float) -> None:
        """Drop pods whose termination has ended, and scrape if a scrape is due at ``now_s``."""
        pipeline = self.pipeline
        self.pods = [
            p
            for p in self.pods
            if p.terminating_since_s is None
            or now_s < p.terminating_since_s + pipeline.termination_s
        ]
        if now_s >= self._next_scrape_s:
            self._scrape(now_s)
            self._next_scrape_s += pipeline.scrape_interval_s

    def serve(self, demand_cores: float, now_s: float) -> None:
        """Run the tick [now_s, now_s + tick_s): the ready pods share the demand."""
        per_pod = self.served_per_pod_cores(demand_cores, now_s)
        for pod in self.ready_pods(now_s):
            pod.cpu_seconds += per_pod * self.pipeline.tick_s

    @property
    def last_scrape_s(self) -> float:
        return self._next_scrape_s - self.pipeline.scrape_interval_s

    def _scrape(self, now_s: float) -> None:
        horizon_s = now_s - self.pipeline.rate_window_s
        for pod in self.pods:
            pod.samples.append((now_s, pod.cpu_seconds))
            while pod.samples and pod.samples[0][0] < horizon_s:
                pod.samples.popleft()

    # -- what a controller sees -----------------------------------------------------------

    def rate(self, pod: Pod, now_s: float) -> PodRate | None:
        """``rate(counter[window])`` at ``now_s``; None with fewer than two samples."""
        inside = [s for s in pod.samples if now_s - self.pipeline.rate_window_s <= s[0] <= now_s]
        if len(inside) < 2:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return PodRate((c1 - c0) / (t1 - t0), t1)

    def capacity_cores(self, now_s: float, target_percent: float) -> float:
        """What the ready pods serve at the target utilisation."""
        return len(self.ready_pods(now_s)) * REQUEST_CORES * target_percent / 100.0


def percent_of_request(cores: float) -> float:
    return 100.0 * cores / REQUEST_CORES if math.isfinite(cores) else math.nan
