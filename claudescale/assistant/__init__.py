"""The MCP assistant: claudescale's tools for a language-model client, and the sampling proposer.

Layer: edge, beside the CLI, the demo and replay. It may use the engine (the one executor, the
poll loop), control, core, ports and config, and it is, with the adapters, the only code that
speaks MCP. It never writes to a cluster itself: every change goes through the executor, and
only the user's elicitation answer or the CLI approves one.
"""
