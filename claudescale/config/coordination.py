"""Settings for living beside other replicas and beside people: leader election and Events.

Layer: edge (groups of ``claudescale.config``'s ``cluster`` settings, kept here so that module
stays small). ``cluster.leader_election`` says which Lease elects the one replica that writes
and how fast a lost lease stops writes; ``cluster.events`` says how the Kubernetes Events that
explain each verdict are rate-limited and aggregated. Reads no files.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from claudescale.config.errors import keyed_error


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeaderElectionSettings(_Group):
    """A ``coordination.k8s.io/v1`` Lease, as client-go's leader election uses it: the leader
    renews it every ``retry_period_s``; it stops writing once ``renew_deadline_s`` passed
    since its last successful renewal was sent, and another replica takes the Lease over only
    after seeing it unchanged for ``lease_duration_s``. The renew deadline is shorter than the
    lease duration, so a lost lease stops writes before anyone else can acquire it."""

    enabled: bool = Field(
        True, description="Elect one writer among replicas; off: this replica always writes."
    )
    lease_name: str = Field("claudescale", min_length=1, description="The Lease's name.")
    lease_namespace: str = Field(
        "claudescale",
        min_length=1,
        description="The Lease's namespace (claudescale's own, where the manifests grant "
        "get/create/update on leases).",
    )
    identity: str | None = Field(
        None,
        min_length=1,
        description="This replica's holderIdentity; None means the host name (the pod's "
        "name) and a random suffix, unique per process.",
    )
    lease_duration_s: float = Field(
        15.0,
        gt=0,
        description="How long others wait, from the last change of the Lease they saw, "
        "before taking it over.",
    )
    renew_deadline_s: float = Field(
        10.0,
        gt=0,
        description="How long after its last successful renewal the leader keeps writing; "
        "must be shorter than lease_duration_s.",
    )
    retry_period_s: float = Field(
        2.0,
        gt=0,
        description="How often the leader renews and the others try to acquire; must be "
        "shorter than renew_deadline_s.",
    )

    @model_validator(mode="after")
    def _deadline_before_takeover(self) -> Self:
        if self.renew_deadline_s >= self.lease_duration_s:
            raise keyed_error(
                "cluster.leader_election.renew_deadline_s",
                f"must be shorter than lease_duration_s ({self.lease_duration_s:g}), so that "
                "a lost lease stops writes before another replica may acquire it "
                f"(got {self.renew_deadline_s:g})",
            )
        if self.retry_period_s >= self.renew_deadline_s:
            raise keyed_error(
                "cluster.leader_election.retry_period_s",
                f"must be shorter than renew_deadline_s ({self.renew_deadline_s:g}), so that "
                f"the leader can renew before its deadline (got {self.retry_period_s:g})",
            )
        return self


class EventSettings(_Group):
    """Kubernetes Events on each Deployment, like the HPA's ``SuccessfulRescale`` and
    ``FailedRescale``: one per executed action, and refusals aggregated and rate-limited."""

    enabled: bool = Field(
        True, description="Record Events on the Deployment for actions and refusals."
    )
    component: str = Field(
        "claudescale",
        min_length=1,
        description="The Events' source.component and reportingComponent.",
    )
    aggregate_window_s: float = Field(
        600.0,
        gt=0,
        description="A repeat of the same reason and message within this long raises the "
        "existing Event's count instead of creating another.",
    )
    repeat_interval_s: float = Field(
        30.0,
        ge=0,
        description="Fewest seconds between two API calls for one repeating Event; repeats "
        "in between are counted and sent with the next call.",
    )
    queue_size: int = Field(
        100,
        ge=1,
        description="Verdicts waiting to be recorded; more are dropped (and logged once) "
        "rather than holding up the executor.",
    )
