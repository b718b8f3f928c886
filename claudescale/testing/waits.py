"""Bounded waits for tests that run something real: a condition a running loop will make true,
and another process holding the audit log's writer lock while it lasts.

Layer: testing (public). Every wait here has a deadline in real seconds and fails naming what
did not happen; nothing here depends on pytest.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

PROCESS_DEADLINE_S = 30.0
"""Real seconds a helper process may take to start or to stop."""


async def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    *,
    poll_s: float = 0.2,
) -> None:
    """Poll a condition a running loop will make true, at most ``timeout_s`` real seconds;
    then fail naming ``what``. For loops that expose no event to wait on."""
    try:
        with anyio.fail_after(timeout_s):
            while not condition():  # noqa: ASYNC110 - the loop exposes no event for this
                await anyio.sleep(poll_s)
    except TimeoutError:
        raise AssertionError(f"Within {timeout_s:g} s, {what} did not happen.") from None


_HOLDER = """
import sys
from pathlib import Path
from claudescale.audit import AuditLog
from claudescale.testing.clock import ManualClock
log = AuditLog(Path(sys.argv[1]), 1 << 22, ManualClock())
print("ready", flush=True)
sys.stdin.read()
log.close()
"""


@asynccontextmanager
async def log_held_elsewhere(audit_path: Path) -> AsyncIterator[None]:
    """Another process holds the audit log's writer lock for the block, as the running
    service does (the CLI then leaves changes to the service)."""
    audit_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", _HOLDER, str(audit_path)]
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None and process.stdin is not None
        with anyio.fail_after(PROCESS_DEADLINE_S):
            assert (await process.stdout.receive()).startswith(b"ready")
        try:
            yield
        finally:
            await process.stdin.aclose()
            with anyio.fail_after(PROCESS_DEADLINE_S):
                await process.wait()
