"""The demo's story: its workloads, its load phases on a schedule, and its settings.

Layer: edge (pure values; nothing here starts anything). The story is told at the product's
real timings (cooldowns 90 s / 180 s, pods ready after 5 s), which would take about half an
hour; ``speed`` compresses every timing by the same factor so that it fits in ``duration_s``,
and ``scaling_note`` says so on screen. ``demo/web`` (3 replicas, right for its idle load)
plays idle, ramp, spike and drain; ``demo/api`` has a light constant load on three replicas,
one more than it needs, which the start-up rule (scale-downs wait a full cooldown after a
start) holds back for a while.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudescale.config import Settings, parse_settings
from claudescale.core.limits import Limits
from claudescale.sim import SimConfig

NAMESPACE = "demo"
LOADED = "web"
STORY_S = 1800.0
"""How long the story takes at the product's real timings."""
DEFAULT_DURATION_S = 300.0
PHASES = (("idle", 0.0), ("ramp", 0.10), ("spike", 0.35), ("drain", 0.50))
"""Each phase of demo/web and when it starts, as a fraction of the duration."""
RAMP_FRACTION = 0.25
DRAIN_FRACTION = 0.10
POD_STARTUP_S = 5.0
SCRAPE_INTERVAL_S = 1.0
RATE_WINDOW = "4s"
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
"""The sandbox enforces the Roles and RoleBindings here as written (in a source checkout)."""


@dataclass(frozen=True, slots=True)
class DemoPlan:
    duration_s: float
    speed: float
    """Every product timing is divided by this."""

    @classmethod
    def make(cls, duration_s: float = DEFAULT_DURATION_S, speed: float | None = None) -> DemoPlan:
        """A plan for ``duration_s``; the speed defaults to what fits the story in it."""
        if not (math.isfinite(duration_s) and duration_s >= 10):
            raise ValueError(f"The demo needs at least 10 s, not {duration_s:g} s.")
        chosen = STORY_S / duration_s if speed is None else speed
        if not (math.isfinite(chosen) and chosen >= 1):
            raise ValueError(f"The demo's speed must be at least 1, not {chosen:g}.")
        return cls(duration_s, chosen)

    @property
    def limits(self) -> Limits:
        base = Limits()
        return base.with_overrides(
            {
                "cooldown_up_s": round(base.cooldown_up_s / self.speed, 2),
                "cooldown_down_s": round(base.cooldown_down_s / self.speed, 2),
            }
        )

    def schedule(self) -> tuple[tuple[float, str], ...]:
        """(seconds after the start, phase of demo/web)."""
        return tuple((round(fraction * self.duration_s, 1), phase) for phase, fraction in PHASES)

    def phase_at(self, elapsed_s: float) -> str:
        current = PHASES[0][0]
        for at_s, phase in self.schedule():
            if elapsed_s >= at_s:
                current = phase
        return current

    def scaling_note(self) -> str:
        limits = self.limits
        return (
            f"timings scaled ×1/{self.speed:g} so the story fits in {self.duration_s:g} s: "
            f"cooldowns {limits.cooldown_up_s:g} s up / {limits.cooldown_down_s:g} s down "
            f"(product: 90 s / 180 s), pods ready after {POD_STARTUP_S / self.speed:.2g} s"
        )

    def sim_config(self) -> SimConfig:
        return SimConfig.model_validate(
            {
                "startup_delay_s": POD_STARTUP_S / self.speed,
                "termination_grace_s": 3.0 / self.speed,
                "namespaces": [NAMESPACE],
                "phases": {
                    "idle_cores": 0.35,
                    "ramp_to_cores": 3.0,
                    "ramp_s": RAMP_FRACTION * self.duration_s,
                    "spike_cores": 4.0,
                    "drain_s": DRAIN_FRACTION * self.duration_s,
                },
                "workloads": [
                    {"namespace": NAMESPACE, "name": LOADED, "replicas": 3},
                    {"namespace": NAMESPACE, "name": "api", "replicas": 3, "cores": 0.15},
                ],
            }
        )

    def settings(self, *, prometheus_url: str, kubeconfig: Path, audit_path: Path) -> Settings:
        scaled = self.speed
        data: dict[str, Any] = {
            "mode": "autonomous",
            "guardrails": self.limits.model_dump(mode="json"),
            "cluster": {
                "kubeconfig": str(kubeconfig),
                "namespaces": [NAMESPACE],
                "request_timeout_s": 5.0,
            },
            "prometheus": {
                "url": prometheus_url,
                "rate_window": RATE_WINDOW,
                "scrape_interval_s": SCRAPE_INTERVAL_S,
                "query_timeout_s": 3.0,
            },
            "audit": {"path": str(audit_path)},
            "loop": {
                "interval_s": 1.0,
                "proposer_deadline_s": 2.0,
                "lookahead_s": round(60.0 / scaled, 2),
                "trend_window_s": max(15.0, round(180.0 / scaled, 2)),
                "refused_retry_s": round(60.0 / scaled, 2),
                "scale_down_stabilisation_s": round(300.0 / scaled, 2),
                "blind_backoff_max_s": 5.0,
            },
            "service": {"host": "127.0.0.1", "port": 0, "shutdown_grace_s": 5.0},
            "risk": {"frequency_window_s": round(3600.0 / scaled, 2)},
        }
        return parse_settings(data)
