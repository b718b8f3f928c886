"""Debian's kubectl (1.20, fetched by scripts/fetch-kubectl.sh) sees the Events the product
records in the sandbox: ``kubectl get events`` lists them and ``kubectl describe deployment``
shows them under the Deployment, aggregated refusals with their count, as for the HPA."""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from claudescale.adapters.kubernetes.events import KubernetesEventRecorder
from claudescale.adapters.system_clock import SystemClock
from claudescale.config.coordination import EventSettings
from claudescale.core.values import Code, Outcome, Verdict, WorkloadRef, block
from claudescale.sim import Sandbox, write_kubeconfig
from claudescale.testing.sandbox import ConnectCluster, StartSandbox, wait_until

WEB = WorkloadRef("demo", "web")
SCALED = "Scaled demo/web 3→4: cpu 85% of requests"
REFUSED = "Refused scaling demo/web 4→6: above the maximum of 5."


async def _kubectl(kubectl: Path, sandbox: Sandbox, home: Path, *args: str) -> tuple[int, str]:
    kubeconfig = write_kubeconfig(home / "kubeconfig", sandbox.url)
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": ""}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [str(kubectl), "--kubeconfig", str(kubeconfig), *args], env=env, check=False
        )
    return done.returncode, (done.stdout + done.stderr).decode()


async def _record_a_story(sandbox: Sandbox, connect_cluster: ConnectCluster) -> None:
    """One scale-up, then the same refusal three times (aggregated into one Event)."""
    clock = SystemClock()
    cluster = await connect_cluster(sandbox, clock=clock)
    settings = EventSettings(repeat_interval_s=0.0)
    async with KubernetesEventRecorder.open(cluster, settings, clock, instance="pod-a") as events:
        events.record(WEB, Verdict(Outcome.EXECUTED, Code.OK, SCALED, 3, 4))
        for _ in range(3):
            events.record(WEB, block(Code.ABOVE_MAX, REFUSED, 4, 6))
        await wait_until(lambda: events.sent == 4, 10, "one create, one create, two patches")


async def test_kubectl_get_events_lists_the_products_events(
    kubectl: Path, start_sandbox: StartSandbox, connect_cluster: ConnectCluster, tmp_path: Path
) -> None:
    sandbox = await start_sandbox(clock=SystemClock())
    await _record_a_story(sandbox, connect_cluster)

    status, out = await _kubectl(kubectl, sandbox, tmp_path, "get", "events", "-n", "demo")

    assert status == 0, out
    header, *rows = out.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert sorted(row.split()[1:4] for row in rows) == [
        ["Normal", "ScaledUp", "deployment/web"],
        ["Warning", "RefusedRescale", "deployment/web"],
    ]
    assert any(row.endswith(SCALED) for row in rows), out
    assert any(row.endswith(REFUSED) for row in rows), out


async def test_kubectl_describe_deployment_shows_why_it_scaled_and_why_it_refused(
    kubectl: Path, start_sandbox: StartSandbox, connect_cluster: ConnectCluster, tmp_path: Path
) -> None:
    sandbox = await start_sandbox(clock=SystemClock())
    await _record_a_story(sandbox, connect_cluster)

    status, out = await _kubectl(
        kubectl, sandbox, tmp_path, "describe", "deployment", "web", "-n", "demo"
    )

    assert status == 0, out
    events = out[out.index("Events:") :].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    scaled = next(line for line in events if "ScaledUp" in line)
    refused = next(line for line in events if "RefusedRescale" in line)
    assert scaled.split()[0] == "Normal" and "claudescale" in scaled and SCALED in scaled
    assert refused.split()[0] == "Warning" and "(x3 over" in refused and REFUSED in refused
