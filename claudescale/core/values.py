"""Value types shared by every layer: workloads, pods, CPU readings, proposals and verdicts.

Layer: pure core. Frozen, slotted dataclasses only; no I/O, no clock reads, no asyncio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """A Deployment, named by namespace and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> WorkloadRef:
        """Parse ``namespace/name``; raises ValueError naming the text when it is not that."""
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise ValueError(f"Workload {text!r} is not of the form namespace/name.")
        return cls(namespace, name)


@dataclass(frozen=True, slots=True)
class PodState:
    """One pod of a workload as the cluster reports it."""

    name: str
    ready: bool
    terminating: bool = False
    cpu_request_cores: float | None = None
    """Sum of the containers' CPU requests in cores; None when a container has none."""
    cpu_limit_cores: float | None = None
    """Sum of the containers' CPU limits in cores; None when a container has none (the pod
    may then use any idle CPU of its node)."""
    start_time_unix_s: float | None = None
    """When the kubelet started the pod (``status.startTime``), Unix seconds; None if unknown."""


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """A fresh read of one Deployment and its pods."""

    ref: WorkloadRef
    uid: str
    replicas: int
    """Desired replicas (the scale subresource's spec.replicas)."""
    resource_version: str
    ready_replicas: int = 0
    rollout_in_progress: bool = False
    paused: bool = False
    """The operator's pause annotation is set (replicas 0 also counts as paused)."""
    owner: str | None = None
    """Another autoscaler targeting this workload, e.g. ``HorizontalPodAutoscaler/web``."""
    managed: bool = True
    """Opted in (label ``claudescale.io/enabled=true``) in a configured namespace."""
    pods: tuple[PodState, ...] = ()
    overrides: tuple[tuple[str, str], ...] = ()
    """Per-workload guardrail overrides from ``claudescale.io/*`` annotations, as (key, value)."""
    selector: str = ""
    last_scaled_by_us_at_wall: float | None = None
    """When our field manager last wrote the scale subresource (``managedFields`` time, Unix
    seconds on the API server's clock), or None when it never did or someone else took the
    replicas over since."""

    @property
    def ready_pods(self) -> tuple[PodState, ...]:
        return tuple(p for p in self.pods if p.ready and not p.terminating)

    @property
    def unready_pods(self) -> tuple[PodState, ...]:
        return tuple(p for p in self.pods if not p.ready and not p.terminating)


@dataclass(frozen=True, slots=True)
class CpuReading:
    """CPU utilisation of a workload in percent of requests, over its ready pods.

    ``percent`` is None when there is no data at all. ``age_s`` is the age of the oldest sample
    used. ``missing_pods`` names ready pods that had no sample.
    """

    percent: float | None
    age_s: float = 0.0
    missing_pods: tuple[str, ...] = ()
    pods_without_request: tuple[str, ...] = ()
    """Ready pods with no CPU request; when any, utilisation is undefined and percent is None."""
    limit_percent: float | None = None
    """The most the measured pods' CPU limits allow, in percent of their requests (100 × sum
    of limits / sum of requests); None when any measured pod has no CPU limit."""

    @property
    def is_finite(self) -> bool:
        return self.percent is not None and math.isfinite(self.percent)


class Action(StrEnum):
    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    HOLD = "hold"


class Source(StrEnum):
    """Who or what proposed a change; every audit record names one."""

    RULES = "rules"
    """The deterministic rules policy in the poll loop."""
    MODEL_SAMPLING = "model_sampling"
    """A model reached through MCP sampling."""
    MODEL_PROVIDER = "model_provider"
    """A model reached through its provider's API."""
    MCP_CLIENT = "mcp_client"
    """A tool call from the user's assistant."""
    CLI = "cli"
    ROLLBACK = "rollback"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Proposal:
    """A request to set a workload's replicas. Nothing in it is trusted."""

    ref: WorkloadRef
    action: Action
    target_replicas: int
    reason: str
    source: Source
    from_replicas: int | None = None
    """The replica count the proposer saw; a different fresh count makes it ``stale_proposal``."""
    actor: str = ""
    """Who acted, e.g. ``cli:alice`` or the MCP client's name; empty means the source itself."""
    proposal_id: str = ""
    approval_id: str = ""
    """A human approval this proposal carries out; the executor checks it against fresh state
    and uses it up before the write."""
    approval_token: str = field(default="", repr=False)
    """The approval's confirmation token, when the caller has one (the MCP path); checked
    against the stored hash. Never written to the audit log."""
    rollback_of: str = ""
    """The snapshot ID this proposal restores (source ``rollback``)."""


class Outcome(StrEnum):
    EXECUTED = "executed"
    BLOCKED = "blocked"
    HELD = "held"
    PENDING = "pending"
    """Waiting for a human approval."""


class Code(StrEnum):
    """Verdict codes, as listed in DESIGN.md."""

    OK = "ok"
    HOLD = "hold"
    ABOVE_MAX = "above_max"
    BELOW_MIN = "below_min"
    COOLDOWN_UP = "cooldown_up"
    COOLDOWN_DOWN = "cooldown_down"
    STEP_TOO_LARGE = "step_too_large"
    CPU_NOT_BELOW_THRESHOLD = "cpu_not_below_threshold"
    REASON_REQUIRED = "reason_required"
    INVALID_PROPOSAL = "invalid_proposal"
    INVALID_TARGET = "invalid_target"
    METRIC_INVALID = "metric_invalid"
    METRIC_MISSING = "metric_missing"
    METRIC_STALE = "metric_stale"
    METRICS_INCOMPLETE = "metrics_incomplete"
    PODS_NOT_READY = "pods_not_ready"
    ROLLOUT_IN_PROGRESS = "rollout_in_progress"
    PAUSED = "paused"
    OWNERSHIP_CONFLICT = "ownership_conflict"
    EXTERNAL_CONTROLLER = "external_controller"
    STALE_PROPOSAL = "stale_proposal"
    CONFLICT = "conflict"
    TARGET_GONE = "target_gone"
    WRITE_FAILED = "write_failed"
    NOT_LEADER = "not_leader"
    """Leader election: this replica does not hold the Lease (or could not renew it in time),
    so only the leader writes; nothing was changed."""
    BUSY = "busy"
    RATE_LIMITED = "rate_limited"
    APPROVAL_REQUIRED = "approval_required"
    CRITICAL_WORKLOAD = "critical_workload"
    LLM_UNAVAILABLE = "llm_unavailable"
    DRY_RUN = "dry_run"
    APPROVAL_INVALID = "approval_invalid"
    """No such approval, or its token does not match (tampered)."""
    APPROVAL_EXPIRED = "approval_expired"
    APPROVAL_USED = "approval_used"
    """The approval (its token) was already used: approvals are single use."""
    APPROVAL_MISMATCH = "approval_mismatch"
    """The workload or the change differs from what was approved (uid, replicas, target,
    resourceVersion)."""
    APPROVAL_REJECTED = "approval_rejected"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one proposal: an outcome, a code and one sentence naming the workload."""

    outcome: Outcome
    code: Code
    message: str
    from_replicas: int | None = None
    to_replicas: int | None = None
    approval_id: str = ""
    """The pending approval this change waits for (outcome ``pending``)."""
    confirmation_token: str = field(default="", repr=False)
    """The pending approval's single-use token, handed to the requester only (never audited)."""

    @property
    def allowed(self) -> bool:
        """The guardrails let it through (before the write, ``ok`` means 'go ahead')."""
        return self.code is Code.OK


def allow(message: str, from_replicas: int, to_replicas: int) -> Verdict:
    return Verdict(Outcome.EXECUTED, Code.OK, message, from_replicas, to_replicas)


def block(
    code: Code, message: str, from_replicas: int | None = None, to_replicas: int | None = None
) -> Verdict:
    return Verdict(Outcome.BLOCKED, code, message, from_replicas, to_replicas)


def hold(message: str, replicas: int | None = None) -> Verdict:
    return Verdict(Outcome.HELD, Code.HOLD, message, replicas, replicas)


@dataclass(frozen=True, slots=True)
class History:
    """What the guardrails must remember about one workload, on the monotonic clock (seconds).

    Rebuilt from the audit log after a restart.
    """

    last_scale_up_at: float | None = None
    """When our last scale-up of this workload executed."""
    last_change_at: float | None = None
    """When our last action (either direction) executed, or an external change was detected."""
    action_times: tuple[float, ...] = ()
    """When our recent actions executed (for the hourly rate limit)."""
    reversion_times: tuple[float, ...] = ()
    """When someone else reverted one of our actions."""
    external_controller: bool = False
    """Set after too many reversions; only an operator clears it."""
    last_known_replicas: int | None = None
    """The replica count we last saw or set; a different fresh read is an external change."""
    last_action: tuple[int, int] | None = None
    """Our last executed action as (from, to), to tell a reversion from other changes."""
