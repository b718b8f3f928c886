"""The MCP resources and the review_scaling prompt, on both protocol eras."""

from __future__ import annotations

import json
from typing import Any

import pytest

MODES = ["legacy", "auto"]


@pytest.mark.parametrize("mode", MODES)
async def test_the_resources_serve_status_policy_audit_and_one_workload_as_json(
    harness: Any, client_for: Any, mode: str
) -> None:
    async with harness(mode="supervised") as world, client_for(world, mode, None) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = {
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        }

        async def read(uri: str) -> Any:
            result = await client.read_resource(uri)
            return json.loads(result.contents[0].text)  # type: ignore[union-attr]

        status = await read("claudescale://status")
        policy = await read("claudescale://policy")
        recent = await read("claudescale://audit/recent")
        web = await read("claudescale://workloads/demo/web")
        unknown = await read("claudescale://workloads/demo/nope")
    assert {"claudescale://status", "claudescale://policy", "claudescale://audit/recent"} <= listed
    assert templates == {"claudescale://workloads/{namespace}/{name}"}
    assert status["mode"] == "supervised" and len(status["workloads"]) == 2
    assert policy["guardrails"]["max_replicas"] == 5 and policy["mode"] == "supervised"
    assert isinstance(recent["records"], list)
    assert (web["name"], web["replicas"], web["limits"]["min_replicas"]) == ("web", 3, 2)
    assert "not a managed workload" in unknown["error"]


@pytest.mark.parametrize("mode", MODES)
async def test_the_review_prompt_names_the_workload_escaped_and_the_confirm_path(
    harness: Any, client_for: Any, mode: str
) -> None:
    async with harness() as world, client_for(world, mode, None) as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        result = await client.get_prompt("review_scaling", {"namespace": "demo", "name": "web\nX"})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert prompts == {"review_scaling"}
    assert "demo/web%0AX" in text and "apply_scaling" in text and "\n" not in text


async def test_a_read_only_servers_prompt_never_asks_for_apply_scaling(
    harness: Any, client_for: Any
) -> None:
    async with harness() as world, client_for(world, "legacy", None, read_only=True) as client:
        result = await client.get_prompt("review_scaling", {"namespace": "demo", "name": "web"})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "propose_scaling" in text and "read-only" in text
    assert "call apply_scaling" not in text
