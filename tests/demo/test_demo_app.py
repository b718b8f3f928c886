"""``claudescale demo-app``: its CPU grows with its request rate, its load plays the demo's
story, and the command serves until SIGTERM.

The app runs in this process on a free loopback port; CPU is read from this process's own
CPU clock, so what is checked is CPU really used, not the app's word for it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import StringIO

import anyio
import pytest

from claudescale.demo.app import AppSettings, DemoApp
from claudescale.demo.plan import PHASES
from claudescale.demo.traffic import LoadShape, play

CPU_MS = 20.0


@pytest.fixture
def app() -> Iterator[DemoApp]:
    server = DemoApp(AppSettings("127.0.0.1", 0, CPU_MS)).start()
    yield server
    server.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def cpu_used_s(app: DemoApp, requests: int) -> float:
    before = time.process_time()
    for _ in range(requests):
        assert get(app.url)[0] == 200
    return time.process_time() - before


def test_cpu_used_grows_in_proportion_to_the_requests_served(app: DemoApp) -> None:
    few, many = cpu_used_s(app, 5), cpu_used_s(app, 20)
    assert few >= 5 * CPU_MS / 1000
    assert many >= 20 * CPU_MS / 1000
    assert 2.5 < many / few < 6.0, (few, many)
    assert app.counters.requests == 25
    assert app.counters.cpu_s == pytest.approx(25 * CPU_MS / 1000, rel=0.2)


def test_probes_and_metrics_burn_nothing_and_other_paths_are_404(app: DemoApp) -> None:
    base = app.url.rstrip("/")
    assert get(f"{base}/healthz") == (200, "ok\n")
    status, text = get(f"{base}/metrics")
    assert status == 200 and "demo_app_requests_total 0\n" in text
    assert get(f"{base}/admin")[0] == 404
    assert app.counters.requests == 0 and app.counters.cpu_s == 0.0


def test_the_load_plays_idle_ramp_spike_and_drain_at_the_demos_timings() -> None:
    shape = LoadShape(duration_s=1000.0, idle_rps=2.0, peak_rps=20.0, spike_rps=30.0)
    starts = {phase: fraction * 1000.0 for phase, fraction in PHASES}
    assert shape.rate_at(0.0) == 2.0
    assert shape.rate_at(starts["ramp"]) == 2.0
    assert shape.rate_at(starts["spike"] - 1e-6) == pytest.approx(20.0, abs=0.01)
    assert shape.rate_at(starts["spike"]) == 30.0
    assert shape.rate_at(starts["drain"]) == 30.0
    assert shape.rate_at(999.0) == 2.0
    assert [shape.phase_at(s) for s in starts.values()] == list(starts)
    with pytest.raises(ValueError, match="spike_rps"):
        LoadShape(spike_rps=-1.0)


async def test_the_load_sends_its_rate_to_the_app(app: DemoApp) -> None:
    shape = LoadShape(duration_s=2.0, idle_rps=20.0, peak_rps=20.0, spike_rps=20.0)
    out = StringIO()
    with anyio.fail_after(15):
        counts = await play(app.url, shape, out)
    assert 30 <= counts.sent <= 45, counts
    assert counts.ok == counts.sent == app.counters.requests
    assert counts.failed == counts.dropped == 0
    assert f"sent {counts.sent}, ok {counts.ok}" in out.getvalue().splitlines()[-1]


async def test_a_load_against_nothing_counts_failures() -> None:
    shape = LoadShape(duration_s=0.5, idle_rps=10.0, request_timeout_s=1.0)
    with anyio.fail_after(10):
        counts = await play("http://127.0.0.1:9/", shape, StringIO())
    assert counts.sent >= 3 and counts.ok == 0 and counts.failed == counts.sent


def test_the_command_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "claudescale.cli.main", "demo-app", "--host", "127.0.0.1"]
    with subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            port = int(line.split("127.0.0.1:")[1].split(",")[0])
            assert get(f"http://127.0.0.1:{port}/")[0] == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "serving on 127.0.0.1:" in line
