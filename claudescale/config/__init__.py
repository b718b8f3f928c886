"""Settings: one frozen object made of small groups, read from YAML and ``CLAUDESCALE_*``.

Layer: edge. Only the CLI and the service call ``load_settings``; everything else receives
the object. Unknown keys and bad values raise ConfigError with one line naming key and value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from claudescale.config.assistant import McpSettings, ProviderSettings
from claudescale.config.errors import describe_settings_error, keyed_error
from claudescale.config.groups import (
    ApprovalSettings,
    AuditSettings,
    ClusterSettings,
    LoopSettings,
    Mode,
    PrometheusSettings,
    ServiceSettings,
    SettingsGroup,
)
from claudescale.core.limits import Limits, tightened
from claudescale.core.override_ceilings import OverrideCeilings
from claudescale.core.risk import RiskSettings
from claudescale.core.values import WorkloadRef
from claudescale.errors import ConfigError

ENV_PREFIX = "CLAUDESCALE_"
ENV_NESTING = "__"
CONFIG_ENV = "CLAUDESCALE_CONFIG"
"""The settings file every command reads when it is given no ``--config``."""


def state_dir_for(settings: Settings, audit_path: Path | None = None) -> Path:
    """Where approvals, snapshots and overrides live: ``approvals.state_dir``, else next to
    the audit log (``audit_path`` when given, else ``audit.path``) as ``<log name>.state``."""
    if settings.approvals.state_dir is not None:
        return settings.approvals.state_dir
    log = audit_path if audit_path is not None else settings.audit.path
    return log.with_name(log.name + ".state")


class Settings(SettingsGroup):
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
    overrides: OverrideCeilings = Field(
        default_factory=OverrideCeilings,
        description="How far an emergency override may loosen the guardrails.",
    )
    provider: ProviderSettings = Field(default_factory=ProviderSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    _source_path: Path | None = PrivateAttr(None)

    @property
    def source_path(self) -> Path | None:
        """The settings file these were read from (absolute), so that printed commands can
        name it; None when they came from the environment and defaults only."""
        return self._source_path

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
    """Read a YAML file (optional; ``CLAUDESCALE_CONFIG`` when not given) and
    ``CLAUDESCALE_*`` variables; the environment wins.

    ``CLAUDESCALE_GUARDRAILS__MIN_REPLICAS=3`` sets ``guardrails.min_replicas``.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV]).expanduser()
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_mapping(path)
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        keys = name.removeprefix(ENV_PREFIX).lower().split(ENV_NESTING)
        _set_nested(data, keys, _env_value(value), name)
    settings = parse_settings(data)
    settings._source_path = None if path is None else path.resolve()
    return settings


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
