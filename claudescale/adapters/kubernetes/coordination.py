"""What a replica opens beside the cluster adapter: leader election and the Event recorder.

Layer: adapter. ``open_coordination`` starts, as ``cluster.leader_election`` and
``cluster.events`` say, a ``LeaseElector`` and a ``KubernetesEventRecorder`` sharing one
identity (the Lease's holderIdentity is the Events' reportingInstance), each running in its
own task group until the block ends. Leave the block only after the service stopped: the
elector releases the Lease on a clean exit, so a successor need not wait it out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.adapters.kubernetes.events import KubernetesEventRecorder
from claudescale.adapters.kubernetes.lease import LeaseElector, default_identity
from claudescale.config.groups import ClusterSettings
from claudescale.ports import Clock


@dataclass(frozen=True, slots=True)
class Coordination:
    identity: str
    leadership: LeaseElector | None
    """None when leader election is off: this replica always writes."""
    events: KubernetesEventRecorder | None
    """None when Events are off."""


@contextlib.asynccontextmanager
async def open_coordination(
    cluster: KubernetesCluster, settings: ClusterSettings, clock: Clock
) -> AsyncIterator[Coordination]:
    election, recording = settings.leader_election, settings.events
    identity = election.identity or default_identity()
    async with contextlib.AsyncExitStack() as stack:
        leadership = events = None
        if election.enabled:
            leadership = await stack.enter_async_context(
                LeaseElector.open(cluster, election, clock, identity=identity)
            )
        if recording.enabled:
            events = await stack.enter_async_context(
                KubernetesEventRecorder.open(cluster, recording, clock, instance=identity)
            )
        yield Coordination(identity, leadership, events)
