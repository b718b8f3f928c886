"""MCP resources and the ``review_scaling`` prompt: what an assistant can read without a tool.

Layer: edge (the MCP assistant). ``claudescale://status`` (as ``get_status``),
``claudescale://policy`` (the mode and the guardrails in force), ``claudescale://audit/recent``
(the newest audit records) and ``claudescale://workloads/{namespace}/{name}`` (one workload's
status and limits), all JSON; and a ``review_scaling`` prompt that walks an assistant through
the read, propose, confirm path. Nothing here changes anything.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer

from claudescale.assistant import listings, tools
from claudescale.assistant.runtime import Assistant
from claudescale.core.prompt import escape_identifier
from claudescale.core.values import WorkloadRef

RECENT_AUDIT_RECORDS = 50


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def register_resources(server: MCPServer, a: Assistant, *, read_only: bool = False) -> None:
    async def status() -> str:
        result = await tools.get_status(a)
        return _json(result.structured_content)

    def policy() -> str:
        settings = a.settings
        return _json(
            {
                "mode": settings.mode.value,
                "kill_switch": a.kill_switch_on(),
                "guardrails": settings.guardrails.model_dump(mode="json"),
                "workloads": settings.workloads,
                "risk": settings.risk.model_dump(mode="json"),
                "approval_ttl_s": settings.approvals.token_ttl_s,
                "production_approval_ttl_s": settings.approvals.production_token_ttl_s,
            }
        )

    def recent() -> str:
        result = listings.get_audit_log(a, None, None, RECENT_AUDIT_RECORDS, None)
        return _json(result.structured_content)

    async def workload(namespace: str, name: str) -> str:
        ref = WorkloadRef(namespace, name)
        result = await tools.get_status(a)
        found = [
            w
            for w in (result.structured_content or {}).get("workloads", [])
            if (w["namespace"], w["name"]) == (ref.namespace, ref.name)
        ]
        if not found:
            return _json({"error": f"{ref} is not a managed workload."})
        limits, limits_error = a.settings.limits_or_base(ref)
        return _json(
            {**found[0], "limits": limits.model_dump(mode="json"), "limits_error": limits_error}
        )

    def review_scaling(namespace: str, name: str) -> str:
        """Review one workload's scaling with claudescale's tools, and propose a change only
        if the numbers call for one."""
        shown = f"{escape_identifier(namespace)}/{escape_identifier(name)}"
        then = (
            "This server is read-only: do not try to apply it."
            if read_only
            else "Only then call apply_scaling: it asks me to confirm."
        )
        return (
            f"Review the scaling of the Deployment {shown} with claudescale. Call get_status "
            f"and get_metrics for {shown}, and get_situation. If its CPU is well away from the "
            "target and the cooldowns allow it, call propose_scaling with the target and one "
            f"sentence of reasons with the numbers, and show me the verdict and the risk. {then} "
            "Otherwise say why holding is right."
        )

    server.resource("claudescale://status", mime_type="application/json")(status)
    server.resource("claudescale://policy", mime_type="application/json")(policy)
    server.resource("claudescale://audit/recent", mime_type="application/json")(recent)
    server.resource("claudescale://workloads/{namespace}/{name}", mime_type="application/json")(
        workload
    )
    server.prompt("review_scaling")(review_scaling)
