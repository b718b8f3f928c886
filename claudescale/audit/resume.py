"""Start-up from the snapshot: verify only the log's tail and fold only the records after it.

Layer: orchestration support (local files; reads only). ``resume`` trusts the snapshot
``<log>.recovered`` (``claudescale.audit.state``) only when the log's record N has the hash the
snapshot names, record N+1 is the ``state_checkpoint`` naming the snapshot's sha256, and the
chain from N verifies (own hashes, seq run, prev links) to the checkpoint of its end. Any
doubt returns None and the caller verifies and folds the whole log, as without a snapshot.

The trade-off: a record changed before N is not seen at start-up (only ``claudescale audit
verify``, which always checks the whole chain, finds it); ``audit.full_verify_at_start``
forces the whole check at every start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from claudescale.audit.checkpoint import AnchorUnreadable, checkpoint_path, read_anchor
from claudescale.audit.format import ChainChecker, LineProblem, Segment, list_segments, read_lines
from claudescale.audit.retention import first_record
from claudescale.audit.state import Snapshot, binds, read_state
from claudescale.audit.verify import end_problem
from claudescale.core.recovery_fold import Fold, rebase

_SEQ_PREFIX = b'{"seq":'


def resume(path: Path, epoch: str) -> Fold | None:
    """The fold of the whole log under ``epoch``, from the snapshot and the verified tail;
    None when the snapshot is missing, unreadable, unbound or the tail does not verify."""
    snapshot = read_state(path)
    fold = None if snapshot is None else rebase(snapshot.fold, epoch)
    if snapshot is None or fold is None:
        return None
    try:
        return _resume(path, snapshot, fold)
    except OSError:  # a segment went away or cannot be read: verify the whole log
        return None


def _resume(path: Path, snapshot: Snapshot, fold: Fold) -> Fold | None:
    try:
        checkpoint = read_anchor(checkpoint_path(path))
    except AnchorUnreadable:
        return None
    if checkpoint is None or checkpoint.seq <= snapshot.seq:
        return None
    segments = _from_segment(path, snapshot.seq)
    if not segments:
        return None
    checker: ChainChecker | None = None
    last_seq, at_checkpoint = -1, None
    for line, complete in _lines(segments):
        if not complete:
            return None
        if checker is None:
            seq = _seq_of(line)
            if seq is None or seq > snapshot.seq:
                return None
            if seq < snapshot.seq:
                continue
            checker = ChainChecker(snapshot.seq, _prev_of(line))
        checked = checker.check(line)
        if isinstance(checked, LineProblem) or checked.problem is not None:
            return None
        if checked.seq == snapshot.seq:
            if checked.digest != snapshot.hash:
                return None
        elif checked.seq == snapshot.seq + 1 and not binds(checked.record, snapshot):
            return None
        else:
            fold.add(checked.record)
        last_seq = checked.seq
        if checked.seq == checkpoint.seq:
            at_checkpoint = checked.digest
    if last_seq <= snapshot.seq:
        return None
    if end_problem(path, len(segments), last_seq, at_checkpoint, checkpoint) is not None:
        return None
    return fold


def _from_segment(path: Path, seq: int) -> list[Segment]:
    """The segments from the one holding record ``seq`` to the newest; [] when none does."""
    segments = list_segments(path)
    for index in range(len(segments) - 1, -1, -1):
        first = first_record(segments[index])
        if first is not None and first.seq <= seq:
            return segments[index:]
    return []


def _lines(segments: list[Segment]) -> Iterator[tuple[bytes, bool]]:
    for segment in segments:
        for _, line, complete in read_lines(segment.path):
            yield line, complete


def _seq_of(line: bytes) -> int | None:
    """The seq a line starts with (records are written seq first), without parsing it all."""
    if not line.startswith(_SEQ_PREFIX):
        return None
    end = line.find(b",", len(_SEQ_PREFIX))
    digits = line[len(_SEQ_PREFIX) : end]
    return int(digits) if end > 0 and digits.isdigit() else None


def _prev_of(line: bytes) -> str:
    """The ``prev`` a record names (checked against its own hash by the chain checker)."""
    start = line.find(b',"prev":"')
    if start < 0:
        return ""
    start += len(b',"prev":"')
    return line[start : start + 64].decode("ascii", "replace")
