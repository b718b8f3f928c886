"""The sentences of refusals: every "Refused scaling …" is built here.

Layer: pure core. A refusal names the workload and, when known, the change (``3→4``), then
says why in a full sentence. Callers pass ``why`` without the workload.
"""

from __future__ import annotations

from claudescale.core.values import Code, Verdict, WorkloadRef, block


def refusal_sentence(ref: WorkloadRef, before: int | None, after: int | None, why: str) -> str:
    """``Refused scaling shop/web 4→2: why`` (``to 2`` when the current count is unknown)."""
    if before is not None and after is not None:
        change = f" {before}→{after}"
    elif after is not None:
        change = f" to {after}"
    else:
        change = ""
    return f"Refused scaling {ref}{change}: {why}"


def refused(
    code: Code, ref: WorkloadRef, before: int | None, after: int | None, why: str
) -> Verdict:
    """A blocked verdict with its sentence and the change it refused."""
    return block(code, refusal_sentence(ref, before, after, why), before, after)
