"""Issue 9, the rest of point 13: what an operator reads says what failed in a sentence of
ours. The blind message names Prometheus' host and what it answered, never the URL-encoded
PromQL; the sandbox's banner points at its kubeconfig and claudescale's own commands, not a
bare ``kubectl``; a replay file's bad settings read like the service's settings errors; and
the example scrape config for ``run`` is one Prometheus itself accepts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from claudescale.adapters.prometheus import PrometheusMetrics
from claudescale.cli.sim_cmd import _banner
from claudescale.config.groups import PrometheusSettings
from claudescale.core.values import PodState, WorkloadRef, WorkloadState
from claudescale.errors import ConfigError, MetricsUnavailable
from claudescale.replay.scenario import parse_scenario
from claudescale.sim.server import Sandbox
from claudescale.testing.clock import ManualClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMTOOL_TIMEOUT_S = 60
QUERY_WORDS = ("query=", "container_cpu_usage_seconds_total", "%7B", "sum+by", "rate(")


def workload() -> WorkloadState:
    pod = PodState("web-1", ready=True, terminating=False, cpu_request_cores=0.25)
    return WorkloadState(
        WorkloadRef("shop", "web"), uid="u", replicas=1, resource_version="1", pods=(pod,)
    )


async def blind_message(url: str) -> str:
    settings = PrometheusSettings(url=url, query_timeout_s=5.0)
    with pytest.raises(MetricsUnavailable) as caught:
        await PrometheusMetrics(settings, ManualClock()).cpu([workload()])
    return str(caught.value)


@pytest.fixture
def answering_503() -> Iterator[str]:
    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status":"error","errorType":"unavailable","error":"busy"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def test_the_blind_message_names_the_host_not_the_query_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = await blind_message(f"http://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in message
    assert "refused" in message.casefold()
    assert not [word for word in QUERY_WORDS if word in message], message
    assert message.endswith(".") and not message.endswith("..")


async def test_the_blind_message_names_the_http_status_prometheus_answered(
    answering_503: str,
) -> None:
    message = await blind_message(answering_503)
    assert "503" in message and answering_503.removeprefix("http://") in message
    assert not [word for word in QUERY_WORDS if word in message], message


async def test_the_sim_banner_suggests_the_kubeconfig_and_claudescale_not_a_bare_kubectl(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    banner = _banner(sandbox, kubeconfig, ["demo"])
    suggestions = [line.split(":", 1)[1] for line in banner.splitlines()[1:] if ":" in line]
    assert not [s for s in suggestions if s.split() and s.split()[0] == "kubectl"], banner
    assert str(kubeconfig) in banner
    assert "claudescale status" in banner and "claudescale approvals list" in banner


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"guardrails": {"cooldown_up_s": -1}}, "settings.guardrails.cooldown_up_s: must be at"),
        ({"workloads": {"shop/web": {"bogus": 1}}}, "settings.workloads.shop/web.bogus: unknown"),
        ({"cluster": {"namespaces": 5}}, "settings.cluster.namespaces: must be a list"),
        ({"prometheus": {"url": "not a url"}}, "settings.prometheus.url: 'not a url' is not"),
        ({"guardrails": {"min_replicas": 6}}, "settings.guardrails: min_replicas (6) is above"),
    ],
)
def test_a_replay_files_settings_errors_use_the_settings_wording(
    settings: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario({"settings": settings, "steps": [{"t": 0}]}, origin="f.yaml")
    message = str(caught.value)
    assert message.startswith(f"f.yaml: {expected}"), message
    assert "Input should" not in message and "Value error" not in message
    assert message.endswith(".") and not message.endswith(".."), message


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([{"t": 0, "pods": 5}], "steps.0.pods: must be a list"),
        ([{"t": 5}, {"t": 1}], "steps: step 1 has t=1, before the previous step's t=5."),
        ([{"t": 0, "cpu": True}], "steps.0.cpu: cpu must be a number"),
    ],
)
def test_a_replay_files_step_errors_use_the_same_wording(
    steps: list[dict[str, object]], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario({"steps": steps}, origin="f.yaml")
    message = str(caught.value)
    assert message.startswith(f"f.yaml: {expected}"), message
    assert "Input should" not in message and "Value error" not in message
    assert not message.endswith(".."), message


def test_the_example_scrape_config_for_run_passes_promtool() -> None:
    example = EXAMPLES / "prometheus.yml"
    assert example.is_file(), "examples/prometheus.yml is missing"
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(example)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = example.read_text()
    assert "container_cpu_usage_seconds_total" in text or "cadvisor" in text
