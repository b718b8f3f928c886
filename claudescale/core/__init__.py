"""The pure core: value types, guardrails, policies and parsers. No I/O, no clocks, no asyncio."""
