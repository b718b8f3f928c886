"""Settings: one frozen object made of small groups, read from YAML and ``CLAUDESCALE_*``.

Layer: edge. Only the CLI and the service call ``load_settings``; everything else receives
the object. Unknown keys and bad values raise ConfigError with one line naming key and value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from claudescale.config_errors import describe_settings_error, keyed_error
from claudescale.core.limits import Limits, tightened
from claudescale.core.risk import RiskSettings
from claudescale.core.values import WorkloadRef
from claudescale.errors import ConfigError

ENV_PREFIX = "CLAUDESCALE_"
ENV_NESTING = "__"


class Mode(StrEnum):
    OBSERVE = "observe"
    """Evaluate and record everything, write nothing (``dry_run``)."""
    SUPERVISED = "supervised"
    """Every change waits for a human approval."""
    AUTONOMOUS = "autonomous"
    """Changes inside the guardrails run by themselves; risky ones wait for a human."""


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClusterSettings(_Group):
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


class PrometheusSettings(_Group):
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


class AuditSettings(_Group):
    path: Path = Field(Path("claudescale-audit.jsonl"), description="Audit log (JSON lines).")
    rotate_bytes: int = Field(
        64 * 1024 * 1024, ge=4096, description="Rotate the log when it reaches this size."
    )


class LoopSettings(_Group):
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


class ServiceSettings(_Group):
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


class ApprovalSettings(_Group):
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


class ProviderSettings(_Group):
    """A model consulted through its provider's API (the optional ``claudescale[anthropic]``
    extra), when no MCP client offers sampling. The key is read from the environment only."""

    enabled: bool = Field(False, description="Ask the provider's model each cycle, first.")
    model: str = Field("claude-sonnet-4-5", min_length=1, description="The model's name.")
    api_key_env: str = Field(
        "ANTHROPIC_API_KEY", min_length=1, description="Environment variable holding the key."
    )
    base_url: str | None = Field(None, description="API base URL; None means the provider's.")
    timeout_s: float = Field(
        8.0, gt=0, description="Deadline for one call (also bounded by loop.proposer_deadline_s)."
    )
    calls_per_hour: int = Field(
        60, ge=0, description="Most calls in any hour; above it the rules decide, unasked."
    )
    max_tokens: int = Field(1024, ge=64, description="Longest reply asked for, in tokens.")


def state_dir_for(settings: Settings, audit_path: Path | None = None) -> Path:
    """Where approvals, snapshots and overrides live: ``approvals.state_dir``, else next to
    the audit log (``audit_path`` when given, else ``audit.path``) as ``<log name>.state``."""
    if settings.approvals.state_dir is not None:
        return settings.approvals.state_dir
    log = audit_path if audit_path is not None else settings.audit.path
    return log.with_name(log.name + ".state")


class Settings(_Group):
    """Everything claudescale can be told. Defaults are the product brief's."""

    mode: Mode = Field(Mode.SUPERVISED, description="observe, supervised (default) or autonomous.")
    guardrails: Limits = Field(default_factory=Limits)
    workloads: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-workload guardrail overrides, keyed by namespace/name.",
    )
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    provider: ProviderSettings = Field(default_factory=ProviderSettings)

    @model_validator(mode="after")
    def _overrides_are_valid(self) -> Self:
        """Each workload's overrides, on top of this file's guardrails, named by full key."""
        for key, overrides in self.workloads.items():
            where = f"workloads.{key}"
            try:
                WorkloadRef.parse(key)
            except ValueError:
                raise keyed_error(where, "a workload is named namespace/name") from None
            try:
                Limits.model_validate({**self.guardrails.model_dump(), **overrides})
            except ValidationError as exc:
                key, _, why = describe_settings_error(exc, prefix=where).partition(": ")
                raise keyed_error(key, why) from None
        return self

    def limits_for(self, ref: WorkloadRef, annotations: tuple[tuple[str, str], ...] = ()) -> Limits:
        """The limits for one workload: global, then the config file's, then annotations,
        which may only tighten (ValueError naming the annotation otherwise)."""
        limits = self.guardrails.with_overrides(self.workloads.get(str(ref), {}))
        return tightened(limits, annotations)

    def limits_or_base(
        self, ref: WorkloadRef, annotations: tuple[tuple[str, str], ...] = ()
    ) -> tuple[Limits, str | None]:
        """``limits_for``, or the global guardrails and why when the workload's annotations
        are invalid (for views and external-change bookkeeping; the executor refuses)."""
        try:
            return self.limits_for(ref, annotations), None
        except ValueError as exc:
            return self.guardrails, str(exc)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read a YAML file (optional) and ``CLAUDESCALE_*`` variables; the environment wins.

    ``CLAUDESCALE_GUARDRAILS__MIN_REPLICAS=3`` sets ``guardrails.min_replicas``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_mapping(path)
    environ = os.environ if environ is None else environ
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name.removeprefix(ENV_PREFIX).lower().split(ENV_NESTING)
        _set_nested(data, keys, _env_value(value), name)
    return parse_settings(data)


def parse_settings(data: Mapping[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_settings_error(exc)) from None


def read_yaml_mapping(path: Path, what: str = "settings file") -> dict[str, Any]:
    """A YAML file that must hold a mapping (empty file: empty mapping); ConfigError names
    the file and the line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping of keys to values.")
    return data


def _env_value(text: str) -> Any:
    """Environment values are YAML scalars or flow lists, so '3', 'true' and '[a, b]' work."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_nested(data: dict[str, Any], keys: list[str], value: Any, origin: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: {key} is not a group of settings.")
        node = child
    node[keys[-1]] = value
