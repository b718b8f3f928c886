"""The settings of the assistant side: the MCP endpoint ``run`` serves, and the model
provider the loop may consult (``claudescale[anthropic]``).

Layer: edge support (values only); part of ``claudescale.config.Settings``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from claudescale.config.groups import SettingsGroup


class ProviderSettings(SettingsGroup):
    """A model consulted through its provider's API (the optional ``claudescale[anthropic]``
    extra), when no MCP client offers sampling. The key is read from the environment only."""

    enabled: bool = Field(False, description="Ask the provider's model each cycle, first.")
    model: str = Field("claude-sonnet-4-5", min_length=1, description="The model's name.")
    api_key_env: str = Field(
        "ANTHROPIC_API_KEY", min_length=1, description="Environment variable holding the key."
    )
    base_url: str | None = Field(None, description="API base URL; None means the provider's.")
    timeout_s: float = Field(
        8.0, gt=0, description="Deadline for one call (also bounded by loop.proposer_deadline_s)."
    )
    calls_per_hour: int = Field(
        60, ge=0, description="Most calls in any hour; above it the rules decide, unasked."
    )
    max_tokens: int = Field(1024, ge=64, description="Longest reply asked for, in tokens.")


class McpSettings(SettingsGroup):
    """The MCP endpoint ``claudescale run`` serves beside the loop: streamable HTTP at
    ``/mcp``, under the same rules as ``claudescale serve --transport http`` (a bind that is
    not loopback needs a bearer token)."""

    enabled: bool = Field(False, description="Serve the MCP tools over HTTP from `run`.")
    host: str = Field("127.0.0.1", description="Address to bind; not loopback needs a token.")
    port: int = Field(8765, ge=0, le=65535, description="Port to bind; 0 picks a free one.")
    token_file: Path | None = Field(None, description="File holding the bearer token.")
    token_env: str | None = Field(
        None, min_length=1, description="Environment variable holding the bearer token."
    )
    read_only: bool = Field(False, description="Serve only the tools that change nothing.")
    sampling_calls_per_hour: int = Field(
        60,
        ge=0,
        description="Most sampling requests to connected clients in any hour; above it the "
        "rules decide, unasked (as provider.calls_per_hour).",
    )
