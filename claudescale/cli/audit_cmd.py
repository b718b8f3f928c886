"""``claudescale audit verify|seal|list|export``: check the audit log's hash chain (and its
checkpoint) and say where it breaks; seal a damaged log; list or export the records an auditor
asks for.

Layer: edge. Reads settings only to find the log; only ``seal`` writes, through
``claudescale.audit.seal`` (refused while a service holds the log). ``list`` and ``export``
stream: one record at a time from ``select_records`` to the output, so a log of millions of
records is never held in memory. Filters: a time range (ISO-8601, on the records' wall clock),
workload, source, actor, outcome, code and kind. ``export`` writes JSON lines (the records as
stored, hash included) or CSV with the fixed columns in ``audit_records.CSV_COLUMNS``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claudescale.adapters.system_clock import SystemClock
from claudescale.audit import RecordFilter, select_records, verify
from claudescale.audit.seal import seal
from claudescale.cli.audit_records import iso_time, record_text, write_export
from claudescale.config import CONFIG_ENV, load_settings
from claudescale.config.groups import AuditSettings
from claudescale.core.text import printable
from claudescale.core.values import Outcome, Source, WorkloadRef
from claudescale.errors import ConfigError

EXIT_OK = 0
EXIT_BROKEN = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="Check and read the audit log.")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    _add_verify(actions)
    _add_seal(actions)
    _add_list(actions)
    _add_export(actions)


def _log_options() -> argparse.ArgumentParser:
    """Options every audit action takes to find the log."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--path",
        type=Path,
        default=None,
        help="The audit log (its newest file); default: the settings' audit.path.",
    )
    options.add_argument(
        "--config", type=Path, default=None, help="YAML settings file to read audit.path from."
    )
    return options


def _add_verify(actions: Any) -> None:
    verify_parser = actions.add_parser(
        "verify",
        parents=[_log_options()],
        help="Check every record's hash and the chain across all files; exit 1 naming the "
        "first bad file, line and seq.",
    )
    verify_parser.set_defaults(handler=_verify)


def _add_seal(actions: Any) -> None:
    seal_parser = actions.add_parser(
        "seal",
        parents=[_log_options()],
        help="Close a damaged audit log (its files are kept aside as *.sealed-<time>) and "
        "start a new chain whose first record names the old chain's last good seq and hash; "
        "every workload is then held for a full cooldown. Stop the service first.",
    )
    seal_parser.set_defaults(handler=_seal)


def _seal(args: argparse.Namespace) -> int:
    path = log_path(args)
    rotate_bytes = AuditSettings().rotate_bytes
    if args.path is None:
        rotate_bytes = load_settings(args.config).audit.rotate_bytes
    sealed = seal(path, rotate_bytes, SystemClock(), cli_actor())
    last = (
        "no record of it verified"
        if sealed.last_good_seq is None
        else f"its last good record is seq {sealed.last_good_seq} ({sealed.last_good_hash})"
    )
    print(printable(f"Sealed the audit log {path}: {sealed.problem}"))
    print(printable(f"The old files are kept as {', '.join(sealed.moved) or 'nothing'}; {last}."))
    print(f"A new chain starts with the sealed record (seq {sealed.seq}).")
    return EXIT_OK


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def log_path(args: argparse.Namespace) -> Path:
    """The log named by ``--path``, else by the settings (``--config`` and the environment)."""
    if args.path is not None:
        path: Path = args.path
        return path
    return load_settings(args.config).audit.path


def existing_log_path(args: argparse.Namespace) -> Path:
    """``log_path``, which must exist: listing a log that is not there is a mistake, not an
    empty answer."""
    path = log_path(args)
    if not path.is_file():
        given = args.path is not None or load_settings(args.config).source_path is not None
        why = "" if given else f" (no settings file was given: --config FILE or {CONFIG_ENV})"
        raise ConfigError(f"There is no audit log at {path.absolute()}{why}.")
    return path


def _verify(args: argparse.Namespace) -> int:
    result = verify(log_path(args))
    print(result.message)
    return EXIT_OK if result.ok else EXIT_BROKEN


def _filter_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--since", help="Records at or after this ISO-8601 time (UTC if bare).")
    options.add_argument("--until", help="Records before this ISO-8601 time (UTC if bare).")
    options.add_argument("--workload", help="Only this namespace/name.")
    options.add_argument(
        "--source",
        help="Only this source: rules, model_sampling, model_provider, "
        "mcp_client, cli, rollback, replay.",
    )
    options.add_argument("--actor", help="Only records naming this actor, e.g. cli:alice.")
    options.add_argument("--outcome", help="Only this outcome: executed, blocked, held, pending.")
    options.add_argument("--code", help="Only this verdict code, e.g. approval_required.")
    options.add_argument(
        "--kind", action="append", help="Only this record kind (repeatable), e.g. verdict."
    )
    return options


def _add_list(actions: Any) -> None:
    parser = actions.add_parser(
        "list",
        parents=[_log_options(), _filter_options()],
        help="Print matching records, one line each, oldest first.",
    )
    parser.set_defaults(handler=_list)


def _add_export(actions: Any) -> None:
    parser = actions.add_parser(
        "export",
        parents=[_log_options(), _filter_options()],
        help="Write matching records as JSON lines or CSV, streamed.",
    )
    parser.add_argument("--format", choices=("json", "csv"), default="json")
    parser.add_argument(
        "--output", type=Path, default=None, help="File to write (default: standard output)."
    )
    parser.set_defaults(handler=_export)


def parse_time(text: str, option: str) -> float:
    """Unix seconds of an ISO-8601 time; a time without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: not an ISO-8601 time such as 2026-05-01T12:00:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _one_of(option: str, value: str | None, allowed: Iterable[str]) -> str | None:
    names = [str(name) for name in allowed]
    if value is not None and value not in names:
        raise ConfigError(f"{option} {value!r}: not one of {', '.join(names)}.")
    return value


def record_filter(args: argparse.Namespace) -> RecordFilter:
    _one_of("--outcome", args.outcome, (outcome.value for outcome in Outcome))
    _one_of("--source", args.source, (source.value for source in Source))
    if args.workload is not None:
        try:
            WorkloadRef.parse(args.workload)
        except ValueError as exc:
            raise ConfigError(f"--workload: {exc}") from None
    return RecordFilter(
        since_ts=parse_time(args.since, "--since") if args.since else None,
        until_ts=parse_time(args.until, "--until") if args.until else None,
        workload=args.workload,
        source=args.source,
        outcome=args.outcome,
        code=args.code,
        kinds=frozenset(args.kind) if args.kind else None,
    )


def matching(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The records the options ask for, streamed in log order."""
    records = select_records(existing_log_path(args), record_filter(args))
    if args.actor is None:
        return records
    return (r for r in records if r.get("actor") == args.actor)


def _list(args: argparse.Namespace) -> int:
    out = sys.stdout
    for record in matching(args):
        who = record.get("actor") or record.get("source") or "-"
        code = record.get("code") or ""
        text = record_text(record)
        line = (
            f"{record['seq']} {iso_time(record.get('ts'))} {record.get('kind')} "
            f"{record.get('workload') or '-'} {who} {code} {text}"
        )
        out.write(printable(line.rstrip()) + "\n")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    records = matching(args)
    if args.output is None:
        write_export(records, args.format, sys.stdout.buffer)
        sys.stdout.flush()
        return EXIT_OK
    with args.output.open("wb") as stream:
        write_export(records, args.format, stream)
    return EXIT_OK
