"""One consult of a model, whichever way it is reached: the prompt, the strict parse, the record.

Layer: edge (the MCP assistant), shared by the sampling and the provider proposers. The prompt
is ``claudescale.core.prompt``'s fixed system prompt and numbers-only summary; the reply goes
through ``claudescale.core.replies``. Every consult is audited (``model_consult``: source,
latency, prompt digest, the reply bounded and escaped, how many proposals); each refused part
is audited too (``model_reply_refused`` with ``invalid_proposal`` or ``invalid_target``), and
a reply with nothing usable raises ``ModelUnavailable`` so that the loop records
``llm_unavailable`` and the rules decide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from claudescale.config import Settings
from claudescale.core.prompt import render_summary
from claudescale.core.replies import ParseFailure, parse_batch, parse_reply
from claudescale.core.situation import WorkloadSituation
from claudescale.core.text import printable
from claudescale.core.values import Proposal, Source
from claudescale.ports import AuditSink

REPLY_AUDIT_CHARS = 2000


class ModelUnavailable(Exception):
    """No usable answer; the message is a sentence for the audit log."""


def prompt_for(settings: Settings, situations: Sequence[WorkloadSituation]) -> str:
    loop = settings.loop
    return render_summary(
        situations,
        target_cpu_percent=loop.target_cpu_percent,
        tolerance=loop.tolerance,
        lookahead_s=loop.lookahead_s,
    )


def parse(
    text: str, situations: Sequence[WorkloadSituation], source: Source
) -> tuple[list[Proposal], list[ParseFailure]]:
    """The reply's proposals and its refused parts. A single workload may be answered with
    the bare decision; anything else must be the batched object."""
    asked = {s.ref: s.replicas for s in situations}
    results: list[Proposal | ParseFailure] = list(parse_batch(text, asked=asked, source=source))
    broken = len(results) == 1 and isinstance(results[0], ParseFailure) and results[0].ref is None
    if broken and len(situations) == 1:
        only = situations[0]
        single = parse_reply(text, asked=only.ref, source=source, from_replicas=only.replicas)
        if isinstance(single, Proposal):
            results = [single]
    proposals = [r for r in results if isinstance(r, Proposal)]
    refusals = [r for r in results if isinstance(r, ParseFailure)]
    return proposals, refusals


async def consult(
    ask: Callable[[str], Awaitable[str]],
    situations: Sequence[WorkloadSituation],
    *,
    settings: Settings,
    source: Source,
    audit: AuditSink | None,
) -> list[Proposal]:
    """Ask (``ask(prompt) -> reply text``), parse, record; raises when nothing is usable."""
    prompt = prompt_for(settings, situations)
    started = anyio.current_time()
    text = await ask(prompt)
    latency_s = anyio.current_time() - started
    proposals, refusals = parse(text, situations, source)

    def record(kind: str, fields: dict[str, Any]) -> None:
        if audit is not None:
            audit.append(kind, {"source": source.value, **fields})

    record(
        "model_consult",
        {
            "latency_s": round(latency_s, 3),
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
            "reply": printable(text[:REPLY_AUDIT_CHARS]),
            "workloads": len(situations),
            "proposals": len(proposals),
        },
    )
    for refusal in refusals:
        record(
            "model_reply_refused",
            {
                "workload": str(refusal.ref) if refusal.ref else "",
                "code": refusal.code.value,
                "message": refusal.message,
            },
        )
    if not proposals and refusals:
        raise ModelUnavailable(refusals[0].message)
    return proposals
