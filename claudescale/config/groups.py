"""The settings groups: one small frozen pydantic model per concern, each field with its
unit, default and why.

Layer: edge support (values only). ``claudescale.config.Settings`` puts them together and
reads them from YAML and the environment.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from claudescale.config.coordination import EventSettings, LeaderElectionSettings


class Mode(StrEnum):
    OBSERVE = "observe"
    """Evaluate and record everything, write nothing (``dry_run``)."""
    SUPERVISED = "supervised"
    """Every change waits for a human approval."""
    AUTONOMOUS = "autonomous"
    """Changes inside the guardrails run by themselves; risky ones wait for a human."""


class SettingsGroup(BaseModel):
    """Every settings group: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ClusterSettings(SettingsGroup):
    kubeconfig: Path | None = Field(
        None, description="Kubeconfig file; None means in-cluster ServiceAccount, then ~/.kube."
    )
    context: str | None = Field(None, description="Kubeconfig context; None means current.")
    namespaces: tuple[str, ...] = Field(
        ("default",), description="Namespaces whose opted-in Deployments we manage."
    )
    opt_in_label: str = Field(
        "claudescale.io/enabled", description="Label that must be 'true' for us to manage."
    )
    request_timeout_s: float = Field(10.0, gt=0, description="Deadline for one API call.")
    max_concurrent_actions: int = Field(
        16,
        ge=1,
        description="Proposals for different workloads the executor reads, judges and writes "
        "at once (never more than one per workload); bounds the load on the API server when "
        "many workloads move together.",
    )
    read_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Deadline for one fresh read of a workload before acting on it (the "
        "Deployment, its scale, pods and autoscalers: several calls).",
    )
    watch_timeout_s: float = Field(
        300.0,
        gt=0,
        description="How long one watch request may stay open (the server's timeoutSeconds) "
        "before we resume it from the last resourceVersion.",
    )
    watch_backoff_max_s: float = Field(
        30.0,
        gt=0,
        description="Longest wait between reconnection attempts after a watch failed.",
    )
    cache_sync_timeout_s: float = Field(
        20.0,
        gt=0,
        description="How long listing the workloads waits for the workload cache's first "
        "list (Deployments, pods and autoscalers of every namespace) before it is "
        "Unavailable; keep it under loop.list_timeout_s.",
    )
    cache_stale_after_s: float = Field(
        60.0,
        gt=0,
        description="How long a broken watch may leave the workload cache unrefreshed before "
        "listing the workloads is Unavailable, so that the loop goes blind rather than act "
        "on stale data.",
    )
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)
    events: EventSettings = Field(default_factory=EventSettings)


_PROMETHEUS_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_PROMETHEUS_DURATION_UNITS_S = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
NAMESPACE_REGEX_PLACEHOLDER = "$namespace_regex"


def prometheus_duration_s(text: str) -> float:
    """Seconds in a Prometheus duration such as ``2m`` or ``1m30s``; ValueError if it is not one."""
    match = _PROMETHEUS_DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a Prometheus duration such as 30s, 2m or 1h")
    return sum(
        int(part) * unit_s
        for part, unit_s in zip(match.groups(), _PROMETHEUS_DURATION_UNITS_S, strict=True)
        if part is not None
    )


class PrometheusSettings(SettingsGroup):
    url: str = Field("http://127.0.0.1:9090", description="Prometheus base URL.")
    verify_tls: bool = Field(
        True, description="Check the server's TLS certificate when the URL is https."
    )
    rate_window: str = Field(
        "2m",
        description="PromQL range for rate(), a Prometheus duration; at least 4 scrape "
        "intervals is wise, 2 is the least that can give a rate.",
    )
    scrape_interval_s: float = Field(
        15.0, gt=0, description="How often Prometheus scrapes cAdvisor (for staleness)."
    )
    cpu_series_selector: str = Field(
        'container_cpu_usage_seconds_total{container!="",container!="POD",'
        'namespace=~"$namespace_regex"}',
        description="PromQL selector of the per-container CPU counters (cAdvisor's by "
        "default, without the pod-level and pause-container series). $namespace_regex "
        "becomes an anchored regex of the managed namespaces. The adapter wraps it in one "
        "query: rate() over rate_window and timestamp(), summed by namespace and pod, so the "
        "series must carry 'namespace' and 'pod' labels.",
    )
    query_timeout_s: float = Field(5.0, gt=0, description="Deadline for one PromQL query.")
    max_concurrent_queries: int = Field(4, ge=1, description="Queries in flight at once.")

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
            raise ValueError(
                f"{value!r} is not an http:// or https:// URL such as http://127.0.0.1:9090"
            )
        return value

    @field_validator("rate_window")
    @classmethod
    def _rate_window_is_a_duration(cls, value: str) -> str:
        if prometheus_duration_s(value) <= 0:
            raise ValueError(f"{value!r} is not a positive duration")
        return value

    @field_validator("cpu_series_selector")
    @classmethod
    def _selector_names_the_namespaces(cls, value: str) -> str:
        if NAMESPACE_REGEX_PLACEHOLDER not in value:
            raise ValueError(f"the selector must contain {NAMESPACE_REGEX_PLACEHOLDER}")
        return value

    @model_validator(mode="after")
    def _window_holds_two_scrapes(self) -> Self:
        window_s = prometheus_duration_s(self.rate_window)
        if window_s < 2 * self.scrape_interval_s:
            raise ValueError(
                f"rate_window {self.rate_window} is shorter than two scrape intervals "
                f"({2 * self.scrape_interval_s:g} s), so rate() would have nothing to compute"
            )
        return self


class AuditSettings(SettingsGroup):
    path: Path = Field(Path("claudescale-audit.jsonl"), description="Audit log (JSON lines).")
    rotate_bytes: int = Field(
        64 * 1024 * 1024, ge=4096, description="Rotate the log when it reaches this size."
    )
    retain_days: float = Field(
        0.0,
        ge=0,
        description="Delete rotated segments whose newest record is older than this many days "
        "(whole segments, oldest first, never one the checkpoint needs); 0 keeps them forever.",
    )
    retain_bytes: int = Field(
        0,
        ge=0,
        description="Delete the oldest rotated segments while all segments together are larger "
        "than this many bytes (never the newest nor one the checkpoint needs); 0: no limit.",
    )
    full_verify_at_start: bool = Field(
        False,
        description="Verify and fold the whole kept log at every start instead of starting "
        "from the snapshot of the recovered state (<log>.recovered) and verifying only the tail "
        "after it; `claudescale audit verify` always checks the whole chain.",
    )
    state_every_records: int = Field(
        100_000, ge=0, description="Snapshot the recovered state after this many records; 0: off."
    )
    state_every_s: float = Field(
        3600.0, ge=0, description="Snapshot the recovered state this often (seconds); 0: off."
    )


class LoopSettings(SettingsGroup):
    interval_s: float = Field(15.0, gt=0, description="Seconds between poll cycles.")
    proposer_deadline_s: float = Field(
        10.0, gt=0, description="How long a cycle waits for a model before using the rules."
    )
    target_cpu_percent: float = Field(
        60.0, gt=0, description="Utilisation the rules policy steers towards."
    )
    tolerance: float = Field(
        0.1, ge=0, lt=1, description="Relative band around the target where the rules hold."
    )
    lookahead_s: float = Field(
        60.0,
        ge=0,
        description="How far ahead the rules project a rising CPU trend, for scale-ups only, "
        "so that a steep ramp is met before it saturates (about a pod's start-up plus a "
        "cycle); 0 turns the look-ahead off.",
    )
    trend_window_s: float = Field(
        180.0, gt=0, description="How far back the CPU trend of a workload looks."
    )
    scale_down_stabilisation_s: float = Field(
        300.0,
        ge=0,
        description="The rules scale down only while every replica count they wanted within "
        "this many seconds is below the current one (the HPA's scale-down stabilisation "
        "window, 300 s by default), so that a noisy load does not flap; 0 turns it off.",
    )
    pod_change_correction: bool = Field(
        True,
        description="While the CPU rate() window still spans a change of ready pods, the "
        "rules correct the reading for it: after a scale-up the older pods' rates still hold "
        "their hotter past and overstate the CPU per pod (which would size a second "
        "scale-up too large), after a scale-down they understate it.",
    )
    list_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Deadline for listing the managed workloads in one cycle (several API "
        "calls per namespace, each also under cluster.request_timeout_s).",
    )
    blind_backoff_max_s: float = Field(
        120.0,
        gt=0,
        description="Longest wait between cycles while Prometheus or the API server cannot "
        "be read; the wait starts at interval_s and doubles.",
    )
    refused_retry_s: float = Field(
        60.0,
        ge=0,
        description="After the executor refuses a change (other than for a cooldown, whose "
        "end is known), how long the loop waits before proposing the same direction for that "
        "workload again, unless its replicas change; keeps a standing refusal from filling "
        "the audit log every cycle.",
    )
    audit_cycles: bool = Field(
        True,
        description="Write one small 'cycle' record per cycle (workloads, total replicas, "
        "peak CPU), so what the loop saw, not only what it did, is in the audit log.",
    )


class ServiceSettings(SettingsGroup):
    host: str = Field("127.0.0.1", description="Address of the health endpoint.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the health endpoint; 0 picks.")
    shutdown_grace_s: float = Field(
        10.0, gt=0, description="Longest wait for an in-flight write on shutdown."
    )
    log_level: str = Field(
        "info",
        pattern="^(debug|info|warning|error)$",
        description="Least severe log level written to stderr (JSON lines).",
    )


class ApprovalSettings(SettingsGroup):
    """Human control: approvals and their tokens, snapshots, overrides and the kill switch."""

    token_ttl_s: float = Field(
        300.0, gt=0, description="Seconds a pending approval (and its token) stays valid."
    )
    production_token_ttl_s: float = Field(
        600.0,
        gt=0,
        description="Seconds a pending approval stays valid in a production namespace "
        "(risk.production_namespaces): production changes often need a second person.",
    )
    snapshot_retention_s: float = Field(
        7 * 86400.0, gt=0, description="Seconds snapshots (and closed approvals) are kept."
    )
    state_dir: Path | None = Field(
        None,
        description="Directory of the approvals, snapshots and overrides; None means next to "
        "the audit log, named after it with '.state' appended.",
    )
    kill_switch: bool = Field(
        False, description="Put everything into observe mode: evaluate and record, never write."
    )
    kill_switch_file: Path | None = Field(
        None,
        description="While this file exists the kill switch is on, read on every proposal so "
        "it needs no restart; None means 'kill-switch' in the state directory.",
    )
    override_max_s: float = Field(
        4 * 3600.0, gt=0, description="Longest an emergency override may last, in seconds."
    )
