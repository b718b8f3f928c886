"""``claudescale approvals list``, ``claudescale approve ID``, ``claudescale reject ID``.

Layer: edge. A decision is recorded in the approvals store (next to the audit log), from any
process, with the CLI user as actor (``cli:<user>``). When no service holds the audit log,
``approve`` then runs a one-shot executor against the cluster, which copies the decision into
the audit log and carries the change out through the whole gate (fresh read, guardrails,
approval bound to the exact object version, snapshot, compare-and-swap write). When the
service runs, it does the same at its next cycle. This module also holds what the other human
control commands share: the CLI actor, settings and stores, and the one-shot executor.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import AuditLog, recover_from
from claudescale.cli.settings_source import state_settings
from claudescale.config import Settings, state_dir_for
from claudescale.control.approval_values import OPEN, Approval
from claudescale.control.approvals import ApprovalStore
from claudescale.control.stores import ControlStores
from claudescale.core.text import printable
from claudescale.core.values import Outcome, Verdict
from claudescale.engine.executor import Executor
from claudescale.errors import AuditError
from claudescale.ports import Clock, Cluster, MetricsSource

EXIT_OK = 0
EXIT_REFUSED = 1

Connect = Callable[[Settings, Clock], AbstractAsyncContextManager[tuple[Cluster, MetricsSource]]]
Ask = Callable[[str], str]


@asynccontextmanager
async def connect_cluster(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[Cluster, MetricsSource]]:
    """The real cluster and Prometheus, as the service uses them."""
    from claudescale.adapters.kubernetes.cluster import KubernetesCluster
    from claudescale.adapters.prometheus import PrometheusMetrics

    async with await KubernetesCluster.connect(settings.cluster, clock) as cluster:
        yield cluster, PrometheusMetrics(settings.prometheus, clock)


@dataclass
class Context:
    """What a human-control command works with; tests replace the outside world here."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    connect: Connect = connect_cluster
    ask: Ask = input
    actor: str = ""

    def __post_init__(self) -> None:
        self.actor = self.actor or cli_actor()

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.settings)

    def stores(self) -> ControlStores:
        return ControlStores.open(self.state_dir, self.settings, self.clock)

    def approvals(self) -> ApprovalStore:
        return self.stores().approvals

    def open_log(self) -> AuditLog | None:
        """The audit log for writing, or None when another process (the service) holds it."""
        audit = self.settings.audit
        try:
            return AuditLog(audit.path, audit.rotate_bytes, self.clock)
        except AuditError as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EAGAIN):
                return None
            raise

    def flush(self) -> bool:
        """Copy stored decisions into the audit log now if no service holds it."""
        log = self.open_log()
        if log is None:
            return False
        with log:
            self.stores().flush(log)
        return True

    def confirm(self, question: str, yes: bool) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty() and self.ask is input:
            print("Not confirmed: no terminal to ask on; pass --yes to confirm.")
            return False
        return self.ask(f"{question} [y/N] ").strip().casefold() in {"y", "yes"}


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


@asynccontextmanager
async def one_shot(context: Context, log: AuditLog) -> AsyncIterator[tuple[Executor, Cluster]]:
    """A running executor on the real (or injected) cluster, recovered from the audit log."""
    async with context.connect(context.settings, context.clock) as (cluster, metrics):
        executor = Executor(
            cluster, metrics, log, context.clock, context.settings, state_dir=context.state_dir
        )
        recovery = recover_from(log)
        executor.recover(recovery.records, damage=recovery.damage)
        async with anyio.create_task_group() as tg:
            await tg.start(executor.run)
            try:
                yield executor, cluster
            finally:
                executor.close()


def describe(approval: Approval, now_wall: float) -> str:
    left_s = approval.expires_at - now_wall
    if approval.status not in OPEN:
        expiry = f"decided by {approval.decided_by}" if approval.decided_by else "closed"
    else:
        expiry = f"expires in {left_s:.0f} s" if left_s > 0 else "expired"
    reasons = "; ".join(approval.risk_reasons) or "a small change"
    return printable(
        f"{approval.id} [{approval.status.value}] {approval.change} ({approval.action}), "
        f"{approval.risk} risk ({reasons}), proposed by {approval.actor}, {expiry}: "
        f"{approval.reason}"
    )


def print_verdicts(verdicts: list[Verdict]) -> int:
    for verdict in verdicts:
        print(printable(f"{verdict.outcome.value} ({verdict.code.value}): {verdict.message}"))
    executed = all(v.outcome in (Outcome.EXECUTED, Outcome.HELD) for v in verdicts)
    return EXIT_OK if executed else EXIT_REFUSED


# -- commands -------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    listing = subparsers.add_parser("approvals", help="List changes waiting for a human.")
    actions = listing.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)
    list_parser = actions.add_parser("list", parents=[common_options()], help="List approvals.")
    list_parser.add_argument(
        "--all", action="store_true", help="Also show used, rejected and expired ones."
    )
    list_parser.set_defaults(handler=lambda args: list_approvals(args, context_from_args(args)))

    approve = subparsers.add_parser(
        "approve",
        parents=[common_options()],
        help="Approve a pending change; it is carried out through the whole gate.",
    )
    approve.add_argument("approval_id", metavar="ID")
    approve.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    approve.add_argument("--reason", default="", help="Why (kept in the audit log).")
    approve.set_defaults(
        handler=lambda args: anyio.run(approve_change, args, context_from_args(args))
    )

    reject = subparsers.add_parser("reject", parents=[common_options()], help="Reject a change.")
    reject.add_argument("approval_id", metavar="ID")
    reject.add_argument("--reason", default="", help="Why (kept in the audit log).")
    reject.set_defaults(handler=lambda args: reject_change(args, context_from_args(args)))


def common_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        type=Path,
        default=None,
        help="The service's YAML settings file (default: $CLAUDESCALE_CONFIG).",
    )
    return options


def context_from_args(args: argparse.Namespace) -> Context:
    return Context(state_settings(args.config))


def list_approvals(args: argparse.Namespace, context: Context) -> int:
    approvals = context.approvals().list(include_closed=args.all)
    if not approvals:
        print("No approvals." if args.all else "No changes are waiting for a human.")
    for approval in approvals:
        print(describe(approval, context.clock.wall()))
    return EXIT_OK


async def approve_change(args: argparse.Namespace, context: Context) -> int:
    store = context.approvals()
    approval = store.get(args.approval_id)
    if approval is not None:
        print(describe(approval, context.clock.wall()))
        if not context.confirm(f"Approve {approval.change}?", args.yes):
            return EXIT_REFUSED
    result = store.approve(args.approval_id, actor=context.actor, reason=args.reason)
    if not result.ok:
        context.flush()
        print(printable(f"Refused ({result.code.value}): {result.message}"))
        return EXIT_REFUSED
    log = context.open_log()
    if log is None:
        print(
            f"Approved {args.approval_id}. The running claudescale service carries it out at "
            "its next cycle, after checking it again against the cluster."
        )
        return EXIT_OK
    with log:
        async with one_shot(context, log) as (executor, _):
            verdicts = await executor.process_approvals(only=args.approval_id)
    if not verdicts:
        print(
            f"Approved {args.approval_id}, but nothing was carried out now: the kill switch is "
            "on or the mode is observe."
        )
        return EXIT_OK
    return print_verdicts(verdicts)


def reject_change(args: argparse.Namespace, context: Context) -> int:
    result = context.approvals().reject(args.approval_id, actor=context.actor, reason=args.reason)
    context.flush()
    if not result.ok:
        print(printable(f"Refused ({result.code.value}): {result.message}"))
        return EXIT_REFUSED
    print(f"Rejected {args.approval_id}; nothing will be changed for it.")
    return EXIT_OK
