"""How audit records read outside the log: ISO times, one sentence per record, and the
streaming JSON-lines and CSV export.

Layer: edge (``claudescale audit list|export``); pure formatting of records as stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

CSV_COLUMNS = (
    "seq",
    "time",
    "kind",
    "workload",
    "source",
    "actor",
    "outcome",
    "code",
    "from",
    "to",
    "approval_id",
    "snapshot_id",
    "override_id",
    "intent_id",
    "proposal_id",
    "message",
    "hash",
)
"""The export's CSV columns, always these and in this order; ``time`` is ISO-8601 UTC."""


def iso_time(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def write_export(records: Iterator[dict[str, Any]], form: str, stream: IO[bytes]) -> int:
    """Write ``records`` as JSON lines or CSV to a binary stream; returns how many."""
    count = 0
    if form == "json":
        for record in records:
            stream.write(orjson.dumps(record) + b"\n")
            count += 1
        stream.flush()
        return count
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
    try:
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            writer.writerow(_csv_row(record))
            count += 1
        text.flush()
    finally:
        text.detach()
    return count


def _csv_row(record: dict[str, Any]) -> list[Any]:
    row: list[Any] = []
    for column in CSV_COLUMNS:
        if column == "time":
            row.append(iso_time(record.get("ts")))
        elif column == "message":
            row.append(record_text(record))
        else:
            value = record.get(column)
            row.append("" if value is None else value)
    return row


def record_text(record: dict[str, Any]) -> str:
    """The record's sentence: its message, else the proposal's reason, else an override's why."""
    return str(record.get("message") or record.get("reason") or record.get("why") or "")
