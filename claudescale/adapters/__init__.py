"""Adapters: the only code that speaks an outside protocol (Kubernetes, Prometheus, MCP, models)."""
