"""``claudescale override start|list|end`` and ``claudescale kill-switch on|off|status``.

Layer: edge. An emergency override changes guardrails for a while: it must name who (the CLI
user) and why, lasts at most ``approvals.override_max_s``, stays within the ceilings of the
settings file's ``overrides`` group (never set from here), and expires by itself. The kill
switch is a file (``approvals.kill_switch_file``, default ``kill-switch`` in the state
directory) the executor reads on every proposal: while it exists, everything is observe mode.
Both are audited: directly when no service holds the audit log, else by the service.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import orjson
import yaml

from claudescale.cli.approvals_cmd import EXIT_OK, EXIT_REFUSED, Context, common_options
from claudescale.cli.approvals_cmd import context_from_args as context_of
from claudescale.config.groups import prometheus_duration_s
from claudescale.control.overrides import EVERY_WORKLOAD, Override, OverrideStore
from claudescale.core.text import printable
from claudescale.core.values import WorkloadRef
from claudescale.errors import ConfigError


def register(subparsers: Any) -> None:
    override = subparsers.add_parser("override", help="Emergency guardrail overrides.")
    actions = override.add_subparsers(dest="override_command", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start", parents=[common_options()], help="Change guardrails for a limited time."
    )
    start.add_argument(
        "--workload", required=True, help=f"namespace/name, or {EVERY_WORKLOAD!r} for all."
    )
    start.add_argument(
        "--set",
        dest="changes",
        action="append",
        required=True,
        metavar="KEY=VALUE",
        help="A guardrail and its value, e.g. max_replicas=8 (repeatable).",
    )
    start.add_argument(
        "--for", dest="duration", required=True, help="How long, e.g. 30m or 2h (or seconds)."
    )
    start.add_argument("--why", required=True, help="Why this override is needed.")
    start.set_defaults(handler=lambda args: start_override(args, context_of(args)))

    listing = actions.add_parser("list", parents=[common_options()], help="List overrides.")
    listing.add_argument("--all", action="store_true", help="Also ended and expired ones.")
    listing.set_defaults(handler=lambda args: list_overrides(args, context_of(args)))

    end = actions.add_parser("end", parents=[common_options()], help="End an override now.")
    end.add_argument("override_id", metavar="ID")
    end.set_defaults(handler=lambda args: end_override(args, context_of(args)))

    kill = subparsers.add_parser(
        "kill-switch", parents=[common_options()], help="Put everything into observe mode."
    )
    kill.add_argument("state", choices=("on", "off", "status"))
    kill.set_defaults(handler=lambda args: kill_switch(args, context_of(args)))


def override_store(context: Context) -> OverrideStore:
    return context.stores().overrides


def describe(override: Override, now_wall: float) -> str:
    changes = ", ".join(f"{key}={value}" for key, value in override.changes)
    if override.ended_at is not None:
        state = f"ended by {override.ended_by}"
    else:
        state = f"{max(0.0, override.expires_at - now_wall):.0f} s left"
    return printable(
        f"{override.id} {override.workload} {changes} ({state}) by {override.who}: {override.why}"
    )


def parse_changes(items: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. max_replicas=8.")
        changes[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return changes


def parse_duration_s(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return prometheus_duration_s(text)
    except ValueError as exc:
        raise ConfigError(f"--for {text!r}: not a duration such as 90, 30m or 2h.") from exc


def start_override(args: argparse.Namespace, context: Context) -> int:
    """Start an override within the settings file's ceilings (``overrides``); one line
    naming the key when it is refused."""
    settings = context.settings
    try:
        every = args.workload == EVERY_WORKLOAD
        base = (
            settings.guardrails if every else settings.limits_for(WorkloadRef.parse(args.workload))
        )
        override = override_store(context).start(
            workload=args.workload,
            changes=parse_changes(args.changes),
            who=context.actor,
            why=args.why,
            duration_s=parse_duration_s(args.duration),
            max_duration_s=settings.approvals.override_max_s,
            ceilings=settings.overrides,
            base=base,
        )
    except ValueError as exc:
        print(f"Refused the override: {exc}")
        return EXIT_REFUSED
    audited = context.flush()
    print(f"Started override {describe(override, context.clock.wall())}.")
    if not audited:
        print("The running service records it in the audit log and applies it from now on.")
    return EXIT_OK


def list_overrides(args: argparse.Namespace, context: Context) -> int:
    overrides = override_store(context).list(include_inactive=args.all)
    if not overrides:
        print("No overrides are active." if not args.all else "No overrides.")
    for override in overrides:
        print(describe(override, context.clock.wall()))
    return EXIT_OK


def end_override(args: argparse.Namespace, context: Context) -> int:
    ended = override_store(context).end(args.override_id, who=context.actor)
    if ended is None:
        print(f"There is no active override {args.override_id!r}.")
        return EXIT_REFUSED
    context.flush()
    print(f"Ended override {ended.id}; the guardrails are back to the settings.")
    return EXIT_OK


def kill_switch(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings
    path = context.stores().kill_switch_file
    if args.state == "on":
        path.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.fromtimestamp(context.clock.wall(), UTC).isoformat(timespec="seconds")
        path.write_bytes(orjson.dumps({"actor": context.actor, "at": at}) + b"\n")
        print(f"Kill switch on ({path}): nothing is written until `claudescale kill-switch off`.")
    elif args.state == "off":
        if settings.approvals.kill_switch:
            print("The setting approvals.kill_switch is true; it stays on until it is changed.")
        path.unlink(missing_ok=True)
        print(f"Kill switch file removed ({path}).")
    else:
        on = settings.approvals.kill_switch or path.exists()
        print(f"Kill switch {'on' if on else 'off'} ({path}).")
    return EXIT_OK
