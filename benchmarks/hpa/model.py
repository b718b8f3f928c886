"""A scripted stand-in for a model proposer: its reply is a fixed function of the situation.

Layer: benchmark (a ``claudescale.ports.Proposer``). It writes the reply text a model would
write and hands it to the product's own parser (``claudescale.core.replies.parse_reply``),
so the proposals reach the executor exactly as a live model's would. The replies are
deliberately those of a plausible, eager model that does not read the cooldowns: it asks
for two more replicas when CPU is far above the target, one more when above it or rising
near it, one fewer when well below it, and the guardrails judge the rest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from claudescale.core.replies import ParseFailure, parse_reply
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Proposal, Source

HOT_RATIO = 1.5
WARM_RATIO = 1.1
RISING_RATIO = 0.9
RISING_PERCENT_PER_MIN = 10.0
COLD_RATIO = 0.5


def reply_for(situation: WorkloadSituation, target_percent: float) -> str:
    """The reply text for one situation (the whole of the scripted model)."""
    replicas = situation.replicas
    low, high = situation.limits.min_replicas, situation.limits.max_replicas
    reading = situation.reading
    percent = reading.percent
    if percent is None or not math.isfinite(percent) or reading.missing_pods:
        return _reply("hold", replicas, "I cannot see the CPU of every ready pod.")
    trend = situation.trend_percent_per_min or 0.0
    seen = f"CPU is {percent:.0f}% of requests against a {target_percent:g}% target"
    if percent >= HOT_RATIO * target_percent and replicas < high:
        return _reply("scale_up", min(high, replicas + 2), f"{seen}: far above it.")
    rising = percent > RISING_RATIO * target_percent and trend > RISING_PERCENT_PER_MIN
    if (percent > WARM_RATIO * target_percent or rising) and replicas < high:
        why = f"{seen}, rising {trend:.0f}% per minute." if rising else f"{seen}."
        return _reply("scale_up", replicas + 1, why)
    if percent < COLD_RATIO * target_percent and replicas > low:
        return _reply("scale_down", replicas - 1, f"{seen}: well below it.")
    return _reply("hold", replicas, f"{seen}: close enough.")


def _reply(action: str, target: int, reason: str) -> str:
    body = json.dumps({"action": action, "target_replicas": target, "reason": reason})
    return f"```json\n{body}\n```"


class ScriptedModel:
    """Answers every situation with ``reply_for``; counts how often it was consulted."""

    name = "scripted-model"

    def __init__(self, target_percent: float) -> None:
        self.target_percent = target_percent
        self.consults = 0
        """Calls (one per poll cycle in which the loop asked)."""
        self.situations = 0

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        self.consults += 1
        self.situations += len(situations)
        proposals: list[Proposal] = []
        for situation in situations:
            parsed = parse_reply(
                reply_for(situation, self.target_percent),
                asked=situation.ref,
                source=Source.MODEL_PROVIDER,
                from_replicas=situation.replicas,
            )
            if isinstance(parsed, ParseFailure):  # pragma: no cover - our replies always parse
                raise ValueError(parsed.message)
            proposals.append(parsed)
        return proposals
