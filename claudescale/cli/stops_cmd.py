"""``claudescale clear-external WORKLOAD``: lift the ``external_controller`` stop of one
workload, the command its refusal names.

Layer: edge (CLI). The stop is set when someone else keeps reverting our changes, and only an
operator lifts it: this command clears it in the durable stops file beside the audit log and
writes an ``external_controller_cleared`` record naming the CLI user, through the executor's
own memory (``CooldownMemory.clear_external_controller``), so a restart agrees. While the
running service holds the audit log (and the stop in memory), the command leaves the lift in
the stops file and the service carries it out, with the same records, at its next cycle
(``CooldownMemory.carry_out_lifts``). It changes nothing in the cluster.
"""

from __future__ import annotations

import argparse
from typing import Any

from claudescale.cli.approvals_cmd import (
    EXIT_OK,
    EXIT_REFUSED,
    Context,
    common_options,
    context_from_args,
)
from claudescale.core.text import printable
from claudescale.core.values import WorkloadRef
from claudescale.engine.cooldown_memory import CooldownMemory
from claudescale.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "clear-external",
        parents=[common_options()],
        help="Lift a workload's external_controller stop (someone kept reverting us).",
        description="Lift the external_controller stop of one workload, set when someone "
        "else kept reverting claudescale's changes. Make sure whatever reverted them is gone "
        "first. It is audited; a running service lifts it at its next cycle.",
    )
    parser.add_argument("workload", metavar="WORKLOAD", help="namespace/name")
    parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    parser.add_argument("--reason", default="", help="Why (kept in the audit log).")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import anyio

    return anyio.run(clear_external, args, context_from_args(args))


async def clear_external(args: argparse.Namespace, context: Context) -> int:
    try:
        ref = WorkloadRef.parse(args.workload)
    except ValueError:
        raise ConfigError(
            f"{printable(args.workload)!r} is not a workload: write it as namespace/name."
        ) from None
    stores = context.stores()
    was_stopped = ref in stores.stops.stopped()
    if not context.confirm(f"Lift the external_controller stop of {ref}?", args.yes):
        return EXIT_REFUSED
    log = context.open_log()
    if log is None and not was_stopped:
        # The running service copied every stop it knows into the stops file when it started.
        print(f"{ref} has no external_controller stop; nothing to lift.")
        return EXIT_OK
    if log is None:
        stores.stops.request_lift(ref, context.actor, args.reason)
        print(
            f"Asked the running claudescale service to lift the external_controller stop of "
            f"{ref}; it does so, and records who asked, at its next cycle."
        )
        return EXIT_OK
    with log:
        memory = CooldownMemory(log, context.clock, context.settings, stops=stores.stops)
        memory.clear_external_controller(ref, context.actor, args.reason)
    if was_stopped:
        print(f"Lifted the external_controller stop of {ref}; its next change is judged anew.")
    else:
        print(f"{ref} had no external_controller stop in the state files; recorded the lift.")
    return EXIT_OK
