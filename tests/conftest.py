"""Shared pytest fixtures; shared helpers that are not fixtures live in claudescale.testing.

- ``start_sandbox`` starts sandbox clusters on 127.0.0.1 port 0 inside the test's event loop
  (any SimConfig, SimOptions, clock) and stops them after the test; ``sandbox`` is the
  default one (namespace ``demo`` with ``web`` 3 and ``api`` 2) on ``sim_clock``, a
  ManualClock. ``connect_cluster(sandbox, ...)`` gives the product's Kubernetes adapter,
  reaching it only through a kubeconfig, as it would a real cluster. ``sandbox_request`` makes
  raw HTTP calls to a sandbox; ``kubectl`` is Debian's kubectl (scripts/fetch-kubectl.sh).
- ``prometheus`` is Debian's ``prometheus``, started once per session on a free loopback port
  (through the product's own ``claudescale.sim.prometheus``), scraping every second whatever
  targets the tests add at run time.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.config.groups import ClusterSettings
from claudescale.demo.plan import LOADED, NAMESPACE, DemoPlan
from claudescale.sim import Sandbox, SimCluster, SimConfig, SimOptions, write_kubeconfig
from claudescale.sim.prometheus import DEFAULT_BINARY, PrometheusProcess
from claudescale.testing.clock import ManualClock
from claudescale.testing.harness import Harness
from claudescale.testing.prometheus import SCRAPE_INTERVAL_S, PrometheusHarness
from claudescale.testing.sandbox import (
    ConnectCluster,
    PlayDemoStory,
    SandboxRequest,
    SimCpu,
    StartSandbox,
)

REPO = Path(__file__).resolve().parents[1]

# -- the sandbox -------------------------------------------------------------------------------


@pytest.fixture
def sim_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def start_sandbox(sim_clock: ManualClock) -> AsyncIterator[StartSandbox]:
    started: list[Sandbox] = []

    async def start(
        config: SimConfig | None = None,
        options: SimOptions | None = None,
        clock: Any = None,
        **cluster_kwargs: Any,
    ) -> Sandbox:
        cluster = SimCluster(config, clock or sim_clock, **cluster_kwargs)
        sandbox = Sandbox(cluster, options)
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        await sandbox.stop()


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> Sandbox:
    return await start_sandbox()


@pytest.fixture
async def connect_cluster(tmp_path: Path) -> AsyncIterator[ConnectCluster]:
    opened: list[KubernetesCluster] = []

    async def connect(
        target: Sandbox | str, token: str | None = None, clock: Any = None, **settings: Any
    ) -> KubernetesCluster:
        """A cluster adapter for a sandbox, or for any URL (a port that never answers...)."""
        url = target if isinstance(target, str) else target.url
        if token is None and isinstance(target, Sandbox):
            token = target.options.token
        path = write_kubeconfig(tmp_path / f"kubeconfig-{len(opened)}", url, token)
        values: dict[str, Any] = {
            "kubeconfig": path,
            "namespaces": ("demo",),
            "request_timeout_s": 5.0,
            **settings,
        }
        cluster = await KubernetesCluster.connect(ClusterSettings(**values), clock)
        opened.append(cluster)
        return cluster

    yield connect
    for cluster in opened:
        await cluster.aclose()


"""``request(sandbox, method, path, body=None, content_type=..., headers=None)``: one raw
HTTP call to a sandbox, answered as (status, JSON body or raw bytes)."""


@pytest.fixture
async def sandbox_request() -> AsyncIterator[SandboxRequest]:
    async with aiohttp.ClientSession() as session:

        async def request(
            sandbox: Sandbox,
            method: str,
            path: str,
            body: Any = None,
            content_type: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> tuple[int, Any]:
            data = None if body is None else orjson.dumps(body)
            with anyio.fail_after(5):
                async with session.request(
                    method,
                    sandbox.url + path,
                    data=data,
                    headers={"Content-Type": content_type, **(headers or {})},
                ) as response:
                    raw = await response.read()
            parsed = orjson.loads(raw) if raw.startswith((b"{", b"[")) else raw
            return response.status, parsed

        yield request


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """Debian's kubectl, unpacked by scripts/fetch-kubectl.sh (apt-get download + dpkg -x)."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "fetch-kubectl.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/fetch-kubectl.sh failed: {result.stderr.strip()}")
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_relative_to(REPO / ".cache" / "kubectl"), path
    return path


# -- Prometheus --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusHarness]:
    """A real Prometheus on 127.0.0.1 for the whole session, stopped at its end."""
    if not DEFAULT_BINARY.is_file():
        pytest.fail(
            f"Prometheus is not installed at {DEFAULT_BINARY}; run the tests with `make test`, "
            "which installs Debian's prometheus package first."
        )
    with PrometheusProcess(scrape_interval_s=SCRAPE_INTERVAL_S) as process:
        yield PrometheusHarness(process)


@pytest.fixture
def play_demo_story(
    start_sandbox: StartSandbox,
    connect_cluster: ConnectCluster,
    sim_clock: ManualClock,
    tmp_path: Path,
) -> PlayDemoStory:
    async def play(
        duration_s: float, options: SimOptions | None = None
    ) -> Harness[ManualClock, KubernetesCluster]:
        plan = DemoPlan.make(duration_s)
        sandbox = await start_sandbox(plan.sim_config(), options)
        cluster = await connect_cluster(sandbox, clock=sim_clock)
        settings = plan.settings(
            prometheus_url="http://127.0.0.1:9",  # unused: CPU comes from the sandbox
            kubeconfig=tmp_path / "kubeconfig",
            audit_path=tmp_path / "audit.jsonl",
        )
        harness = Harness(sim_clock, cluster, settings, metrics=SimCpu(sandbox.cluster))
        phases = list(plan.schedule())
        async with harness.running():
            controller = harness.controller()
            started = sim_clock.now()
            while (elapsed_s := sim_clock.now() - started) < plan.duration_s:
                while phases and phases[0][0] <= elapsed_s:
                    sandbox.cluster.set_load(NAMESPACE, LOADED, phase=phases.pop(0)[1])
                await controller.cycle()
                sandbox.cluster.advance(settings.loop.interval_s)
        return harness

    return play
