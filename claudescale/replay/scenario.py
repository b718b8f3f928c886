"""The replay file format (DESIGN.md, "Scenario replay"), parsed strictly.

Layer: edge (reads YAML). Unknown keys and bad values raise ConfigError with one line naming
the key, e.g. ``steps.2.cpu: ...``; errors in the scenario's ``settings`` read like the
service's own settings errors (``settings.guardrails.cooldown_up_s: must be at least 0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from claudescale.config import Settings, read_yaml_mapping
from claudescale.config.errors import describe_settings_error
from claudescale.core.values import WorkloadRef
from claudescale.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkloadSpec(_Strict):
    namespace: str = "shop"
    name: str = "web"

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef(self.namespace, self.name)


class Start(_Strict):
    replicas: int = Field(3, ge=0)
    last_action_ago_s: float | None = Field(None, ge=0)


class CpuSample(_Strict):
    value: float | None
    age_s: float = Field(0.0, ge=0)


class PodSpec(_Strict):
    ready: bool = True
    terminating: bool = False
    cpu: float | None = None


class WorkloadChange(_Strict):
    paused: bool | None = None
    owner: str | None = None
    rollout_in_progress: bool | None = None
    deleted: bool | None = None


class Restart(_Strict):
    durable_state: bool = True


class Propose(_Strict):
    action: Literal["scale_up", "scale_down", "hold"]
    target_replicas: StrictInt
    reason: StrictStr = ""
    from_replicas: StrictInt | None = None
    """The replica count the proposer saw; by default the count at this step."""


class Step(_Strict):
    t: float = Field(ge=0)
    cpu: CpuSample | None = None
    pods: tuple[PodSpec, ...] | None = None
    workload: WorkloadChange | None = None
    external_replicas: int | None = Field(None, ge=0)
    write_fails: StrictInt | None = Field(None, ge=400, le=599)
    """The HTTP status the next scale write answers: 409 conflict, 404 gone, 5xx unavailable,
    any other 4xx a refused write."""
    restart: Restart | None = None
    wall_clock_jump_s: float = 0.0
    propose: Propose | None = None
    llm_text: str | None = None
    concurrent: int = Field(1, ge=1, le=64)

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu_forms(cls, value: Any) -> Any:
        """``85``, ``"NaN"``, ``"+Inf"``, ``null`` or ``{value: 20, age_s: 180}``."""
        if value is None or isinstance(value, dict):
            return {"value": None} if value is None else value
        if isinstance(value, bool):
            raise ValueError("cpu must be a number, 'NaN', '+Inf', null or {value, age_s}")
        if isinstance(value, int | float):
            return {"value": float(value)}
        if isinstance(value, str) and value.strip() in {"NaN", "+Inf", "-Inf", "Inf"}:
            return {"value": float(value.strip())}
        raise ValueError("cpu must be a number, 'NaN', '+Inf', null or {value, age_s}")

    @field_validator("restart", mode="before")
    @classmethod
    def _restart_forms(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @property
    def cpu_given(self) -> bool:
        return "cpu" in self.model_fields_set


class Scenario(_Strict):
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    settings: dict[str, Any] = Field(default_factory=dict)
    start: Start = Field(default_factory=Start)
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _time_moves_forward(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        for index in range(1, len(steps)):
            if steps[index].t < steps[index - 1].t:
                raise ValueError(
                    f"step {index} has t={steps[index].t:g}, before the previous step's "
                    f"t={steps[index - 1].t:g}"
                )
        for step in steps:
            if step.propose is not None and step.llm_text is not None:
                raise ValueError(f"the step at t={step.t:g} has both propose and llm_text")
        return steps


def load_scenario(path: Path) -> Scenario:
    return parse_scenario(read_yaml_mapping(path, "replay file"), origin=str(path))


def parse_scenario(data: Any, *, origin: str = "replay") -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a replay file is a mapping with at least 'steps'.")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {describe_settings_error(exc)}") from None
    try:
        replay_settings(scenario)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_settings_error(exc)}") from None
    return scenario


def _settings_error(exc: ValidationError) -> str:
    """The service's wording for settings errors (``claudescale.config.errors``), with the
    key path under the scenario's ``settings``."""
    text = describe_settings_error(exc)
    return text if text.startswith("settings:") else f"settings.{text}"


def replay_settings(scenario: Scenario) -> Settings:
    """The scenario's settings over the replay's default of autonomous mode."""
    return Settings.model_validate({"mode": "autonomous", **scenario.settings})
