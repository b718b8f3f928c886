"""``claudescale snapshots list [WORKLOAD]`` and ``claudescale rollback SNAPSHOT_ID``.

Layer: edge. A rollback restores a snapshot's replica count through the same gate as any other
change: a proposal with source ``rollback`` (cooldowns do not delay it; bounds, step, metrics,
compare-and-swap and confirmation still apply), confirmed by the CLI user (``--yes`` or the
prompt) as an approval recorded before the write. A workload already at the snapshot's count
is a hold, audited as an idempotent rollback. When the service holds the audit log, the
confirmed rollback is stored as an approval bound to the fresh state and the service carries
it out at its next cycle.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import anyio

from claudescale.cli.approvals_cmd import (
    EXIT_OK,
    EXIT_REFUSED,
    Context,
    common_options,
    context_from_args,
    one_shot,
    print_verdicts,
)
from claudescale.control.change_requests import request_change
from claudescale.control.snapshots import Snapshot, SnapshotStore, rollback_proposal
from claudescale.core.risk import Change, assess
from claudescale.core.text import printable
from claudescale.core.values import Action, Outcome, WorkloadRef, WorkloadState
from claudescale.errors import ClusterError, ConfigError, NotFound
from claudescale.ports import Cluster

CONFIRMED = "confirmed at the CLI"


def register(subparsers: Any) -> None:
    snapshots = subparsers.add_parser("snapshots", help="Workload states kept before each write.")
    actions = snapshots.add_subparsers(dest="snapshots_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[common_options()], help="List snapshots, oldest first."
    )
    listing.add_argument("workload", nargs="?", default=None, help="Only this namespace/name.")
    listing.set_defaults(handler=lambda args: list_snapshots(args, context_from_args(args)))

    rollback = subparsers.add_parser(
        "rollback",
        parents=[common_options()],
        help="Restore a snapshot's replica count through the same gate as any change.",
    )
    rollback.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
    rollback.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    rollback.set_defaults(handler=lambda args: anyio.run(roll_back, args, context_from_args(args)))


def snapshot_store(context: Context) -> SnapshotStore:
    return context.stores().snapshots


def describe(snapshot: Snapshot) -> str:
    taken = datetime.fromtimestamp(snapshot.taken_at, UTC).isoformat(timespec="seconds")
    return printable(
        f"{snapshot.id} {taken} {snapshot.workload} replicas {snapshot.replicas} "
        f"(before {snapshot.replicas}→{snapshot.to_replicas} by {snapshot.actor}, "
        f"{snapshot.source})"
    )


def list_snapshots(args: argparse.Namespace, context: Context) -> int:
    if args.workload is not None:
        try:
            WorkloadRef.parse(args.workload)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    found = 0
    for snapshot in snapshot_store(context).list(args.workload):
        print(describe(snapshot))
        found += 1
    if not found:
        print("No snapshots" + (f" of {args.workload}." if args.workload else "."))
    return EXIT_OK


async def roll_back(args: argparse.Namespace, context: Context) -> int:
    snapshot = snapshot_store(context).get(args.snapshot_id)
    if snapshot is None:
        days = context.settings.approvals.snapshot_retention_s / 86400
        print(f"There is no snapshot {args.snapshot_id!r} (snapshots are kept {days:g} days).")
        return EXIT_REFUSED
    log = context.open_log()
    if log is None:
        return await _through_the_service(args, context, snapshot)
    with log:
        async with one_shot(context, log) as (executor, cluster):
            state = await _fresh(context, cluster, snapshot)
            if state is None:
                return EXIT_REFUSED
            proposal = rollback_proposal(snapshot, state, context.actor)
            if proposal.action is Action.HOLD:
                verdict = await executor.submit(proposal)
                print(
                    printable(
                        f"{snapshot.workload} already has {state.replicas} replicas: "
                        f"{verdict.message}"
                    )
                )
                return EXIT_OK
            question = f"Roll {snapshot.workload} back {state.replicas}→{snapshot.replicas}?"
            if not context.confirm(question, args.yes):
                return EXIT_REFUSED
            verdict = await executor.submit(proposal)
            if verdict.outcome is not Outcome.PENDING or not verdict.approval_id:
                return print_verdicts([verdict])
            approvals = context.approvals()
            granted = approvals.approve(verdict.approval_id, actor=context.actor, reason=CONFIRMED)
            if not granted.ok:
                print(printable(f"Refused ({granted.code.value}): {granted.message}"))
                return EXIT_REFUSED
            return print_verdicts(await executor.process_approvals(only=verdict.approval_id))


async def _fresh(context: Context, cluster: Cluster, snapshot: Snapshot) -> WorkloadState | None:
    try:
        with anyio.fail_after(context.settings.cluster.request_timeout_s):
            state = await cluster.read_workload(snapshot.ref)
    except NotFound:
        print(f"Cannot roll back {snapshot.workload}: the Deployment no longer exists.")
        return None
    except (ClusterError, TimeoutError) as exc:
        print(f"Cannot roll back {snapshot.workload}: it could not be read ({exc}).")
        return None
    if state.uid != snapshot.uid:
        print(
            f"Cannot roll back {snapshot.workload} to snapshot {snapshot.id}: the Deployment was "
            "deleted and created again since (its uid differs)."
        )
        return None
    return state


async def _through_the_service(
    args: argparse.Namespace, context: Context, snapshot: Snapshot
) -> int:
    """The service holds the audit log: store the confirmed rollback as an approval."""
    settings = context.settings
    async with context.connect(settings, context.clock) as (cluster, _):
        state = await _fresh(context, cluster, snapshot)
    if state is None:
        return EXIT_REFUSED
    proposal = rollback_proposal(snapshot, state, context.actor)
    approvals = context.approvals()
    if proposal.action is Action.HOLD:
        approvals.note(
            "rollback",
            {
                "snapshot_id": snapshot.id,
                "workload": snapshot.workload,
                "source": "rollback",
                "actor": context.actor,
                "outcome": Outcome.HELD.value,
                "code": "hold",
                "to": snapshot.replicas,
                "idempotent": True,
            },
        )
        print(f"{snapshot.workload} already has {state.replicas} replicas; nothing to do.")
        return EXIT_OK
    question = f"Roll {snapshot.workload} back {state.replicas}→{snapshot.replicas}?"
    if not context.confirm(question, args.yes):
        return EXIT_REFUSED
    limits, _ = settings.limits_or_base(state.ref, state.overrides)
    risk = assess(Change(state.ref, state.replicas, snapshot.replicas), settings.risk, limits, 0)
    stores = context.stores()
    approval, _ = request_change(stores, settings, state, proposal, risk)
    stores.approvals.approve(approval.id, actor=context.actor, reason=CONFIRMED)
    print(
        f"Recorded the rollback of {snapshot.workload} to {snapshot.replicas} replicas as "
        f"approval {approval.id}. The running claudescale service carries it out at its next "
        "cycle, after checking it again against the cluster."
    )
    return EXIT_OK
