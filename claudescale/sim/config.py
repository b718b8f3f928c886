"""What the sandbox starts with: pod timings, load phases, workloads, HPAs and a load schedule.

Layer: sandbox. Read from YAML by ``claudescale sim --config FILE``; every key is optional and
the defaults give namespace ``demo`` with ``web`` (3 replicas) and ``api`` (2), opted in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from claudescale.config import read_yaml_mapping
from claudescale.core.limits import describe_validation_error
from claudescale.errors import ConfigError


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Phases(_Model):
    """Named load phases; each sets a workload's demanded cores (split over ready pods)."""

    idle_cores: float = Field(default=0.2, ge=0, description="Demand while idle, in cores.")
    ramp_to_cores: float = Field(default=3.0, ge=0, description="Where a ramp ends, in cores.")
    ramp_s: float = Field(default=120.0, gt=0, description="How long a ramp takes, in seconds.")
    spike_cores: float = Field(default=4.0, ge=0, description="Demand during a spike, in cores.")
    drain_s: float = Field(default=60.0, gt=0, description="How long a drain back to idle takes.")


PHASE_NAMES = ("idle", "ramp", "spike", "drain")


class WorkloadSpec(_Model):
    namespace: str = "demo"
    name: str
    replicas: int = Field(default=2, ge=0)
    enabled: bool = Field(default=True, description="Set the claudescale.io/enabled=true label.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    cpu_request: str | None = Field(
        default="250m", description="None: the container has no request."
    )
    cpu_limit: str | None = Field(
        default="1000m", description="None: no limit (a pod may use the whole simulated node)."
    )
    phase: str = "idle"
    cores: float | None = Field(
        default=None, ge=0, description="A fixed demand instead of a phase."
    )

    @model_validator(mode="after")
    def _phase_is_known(self) -> WorkloadSpec:
        if self.phase not in PHASE_NAMES:
            raise ValueError(f"phase {self.phase!r} is not one of {', '.join(PHASE_NAMES)}")
        return self


class TargetSpec(_Model):
    """An HPA or a KEDA ScaledObject pointing at a Deployment."""

    namespace: str = "demo"
    name: str
    target: str


class ScheduledLoad(_Model):
    """At ``at_s`` seconds after start, set a workload's phase (or a fixed demand)."""

    at_s: float = Field(ge=0)
    workload: str = Field(description="namespace/name")
    phase: str | None = None
    cores: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_of_phase_or_cores(self) -> ScheduledLoad:
        if (self.phase is None) == (self.cores is None):
            raise ValueError("give exactly one of phase and cores")
        if self.phase is not None and self.phase not in PHASE_NAMES:
            raise ValueError(f"phase {self.phase!r} is not one of {', '.join(PHASE_NAMES)}")
        return self


def _default_workloads() -> tuple[WorkloadSpec, ...]:
    return (WorkloadSpec(name="web", replicas=3), WorkloadSpec(name="api", replicas=2))


class SimConfig(_Model):
    startup_delay_s: float = Field(
        default=5.0, ge=0, description="Seconds from pod creation to Ready."
    )
    termination_grace_s: float = Field(
        default=3.0, ge=0, description="Seconds a deleted pod stays Terminating before it is gone."
    )
    initial_pods_ready: bool = Field(
        default=True, description="Pods of the starting workloads begin Ready (as if long running)."
    )
    keda: bool = Field(default=False, description="Serve the keda.sh ScaledObject CRD.")
    namespaces: tuple[str, ...] = Field(default=("demo",), description="Namespaces that exist.")
    phases: Phases = Field(default=Phases())
    workloads: tuple[WorkloadSpec, ...] = Field(default_factory=_default_workloads)
    hpas: tuple[TargetSpec, ...] = ()
    scaled_objects: tuple[TargetSpec, ...] = ()
    schedule: tuple[ScheduledLoad, ...] = ()


def load_sim_config(path: Path | None) -> SimConfig:
    """The sandbox configuration from a YAML file (None: the defaults)."""
    if path is None:
        return SimConfig()
    data = read_yaml_mapping(path, "sandbox file")
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None
