"""The provider proposer: the loop asks a model through its provider's API (Anthropic).

Layer: edge (the MCP assistant), beside the sampling proposer and with the same prompt,
parser and audit records (``claudescale.assistant.consult``). It needs the optional
``claudescale[anthropic]`` extra (the official ``anthropic`` SDK), and settings
``provider.*``: the model, the environment variable holding the key, a base URL, a timeout and
a budget of calls per hour. Over the budget it is not asked (the rules decide; the first skip
in an hour is audited). It never retries: a 429, a 5xx or a timeout raises, the loop records
``llm_unavailable`` and the rules decide, and the next cycle is the retry.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from claudescale.assistant.budget import HourlyBudget
from claudescale.assistant.consult import ModelUnavailable, consult
from claudescale.config import Settings
from claudescale.config.assistant import ProviderSettings
from claudescale.core.prompt import SYSTEM_PROMPT
from claudescale.core.situation import WorkloadSituation
from claudescale.core.values import Proposal, Source
from claudescale.errors import ConfigError
from claudescale.ports import AuditSink, Clock, Proposer


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError:
        raise ConfigError(
            "provider.enabled needs the anthropic SDK: pip install 'claudescale[anthropic]'."
        ) from None
    return anthropic


class ProviderProposer:
    """Asks the provider's model; use ``async with`` so its HTTP client is closed."""

    name = Source.MODEL_PROVIDER.value

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        audit: AuditSink | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        provider: ProviderSettings = settings.provider
        key = (os.environ if environ is None else environ).get(provider.api_key_env, "")
        if not key:
            raise ConfigError(
                f"provider.enabled is set but the environment variable {provider.api_key_env} "
                "holds no API key."
            )
        anthropic = _sdk()
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=provider.base_url,
            timeout=min(provider.timeout_s, settings.loop.proposer_deadline_s),
            max_retries=0,
        )
        self._settings = settings
        self._provider = provider
        self._clock = clock
        self.audit = audit
        """Where consults are recorded; set once the service has opened its audit log."""
        self._budget = HourlyBudget(Source.MODEL_PROVIDER, provider.calls_per_hour, clock)
        self.consulted = False
        """Whether the last ``propose`` called the API (for the service's telemetry)."""

    async def __aenter__(self) -> ProviderProposer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()

    async def propose(self, situations: Sequence[WorkloadSituation]) -> list[Proposal]:
        self.consulted = bool(situations) and self._budget.spend(self.audit)
        if not self.consulted:
            return []
        return await consult(
            self._ask,
            situations,
            settings=self._settings,
            source=Source.MODEL_PROVIDER,
            audit=self.audit,
        )

    async def _ask(self, prompt: str) -> str:
        anthropic = _sdk()
        try:
            message = await self._client.messages.create(
                model=self._provider.model,
                max_tokens=self._provider.max_tokens,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": prompt}],
            )
        except anthropic.APIStatusError as exc:
            raise ModelUnavailable(
                f"The provider answered HTTP {exc.status_code} ({type(exc).__name__})."
            ) from exc
        except anthropic.APITimeoutError as exc:
            raise ModelUnavailable("The provider did not answer in time.") from exc
        except anthropic.APIConnectionError as exc:
            raise ModelUnavailable("The provider could not be reached.") from exc
        texts = [block.text for block in message.content if getattr(block, "type", "") == "text"]
        if not texts:
            raise ModelUnavailable("The provider's reply held no text.")
        return "".join(texts)


@asynccontextmanager
async def model_proposers(settings: Settings, clock: Clock) -> AsyncIterator[list[Proposer]]:
    """The provider proposer when ``provider.enabled`` (ConfigError without its SDK or key),
    its HTTP client closed at the end; no proposers otherwise."""
    if not settings.provider.enabled:
        yield []
        return
    async with ProviderProposer(settings, clock) as provider:
        yield [provider]


def hand_audit(proposers: Iterable[Proposer], audit: AuditSink) -> None:
    """Give provider proposers opened before the service the audit log it opened."""
    for proposer in proposers:
        if isinstance(proposer, ProviderProposer) and proposer.audit is None:
            proposer.audit = audit
