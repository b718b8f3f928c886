"""Reading the end of a log segment backwards, in bounded chunks.

Layer: orchestration support (local files). Lets the writer find the last complete line of a
segment without reading the whole file. Reads only; never writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

CHUNK_BYTES = 64 * 1024


def byte_at(stream: BinaryIO, offset: int) -> bytes:
    stream.seek(offset)
    return stream.read(1)


def last_newline_before(stream: BinaryIO, end: int) -> int:
    """Offset of the last newline before ``end``, or -1; reads backwards in chunks."""
    position = end
    while position > 0:
        start = max(0, position - CHUNK_BYTES)
        stream.seek(start)
        found = stream.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def line_ending_at(stream: BinaryIO, newline_offset: int) -> bytes:
    """The line whose newline is at ``newline_offset``, without the newline."""
    start = last_newline_before(stream, newline_offset) + 1
    stream.seek(start)
    return stream.read(newline_offset - start)


def read_range(stream: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    """The bytes from ``start`` up to ``end`` (or the stream's end), a chunk at a time."""
    stream.seek(start)
    remaining = end - start
    while remaining > 0:
        chunk = stream.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        yield chunk
        remaining -= len(chunk)


def sha256_range(stream: BinaryIO, start: int, end: int) -> str:
    digest = hashlib.sha256()
    for chunk in read_range(stream, start, end):
        digest.update(chunk)
    return digest.hexdigest()
