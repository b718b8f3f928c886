"""The real service under measurement: the sandbox, Debian's Prometheus and ``claudescale run``,
each a process of its own, watched from outside through /proc and the audit log.

Layer: benchmark support, shared by ``benchmarks.service_scale`` and ``benchmarks.reaction``.
It starts and stops processes and reads what they leave behind (``/proc/<pid>``, the audit
log, Prometheus's own ``/metrics``); it never imports the service's objects into the process
it measures. Also here: merging a section into ``benchmarks/results.json`` and rewriting one
marked section of ``benchmarks/RESULTS.md``, leaving everything else as it is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
import yaml

from benchmarks.common import start_sandbox
from claudescale.sim.prometheus import PrometheusProcess, wait_for_count

BENCH_DIR = Path(__file__).parent
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Stack:
    """A running sandbox and the Prometheus that scrapes it every second."""

    directory: Path
    kubeconfig: Path
    sandbox_address: str
    prometheus_url: str


@asynccontextmanager
async def running_stack(
    directory: Path,
    sim_config: dict[str, Any],
    *,
    namespace: str,
    pods: int,
    settle_s: float = 0.0,
) -> AsyncIterator[Stack]:
    """Start the sandbox and Prometheus (1 s scrape); yield once Prometheus has a rate for
    ``pods`` pods of ``namespace``, and ``settle_s`` more seconds: a rate over a window that
    Prometheus has not yet filled reads low, which a loop's trend takes for a rise."""
    sandbox, kubeconfig, address = await start_sandbox(directory, sim_config)
    prometheus = PrometheusProcess(scrape_interval_s=1.0, workdir=directory / "prometheus")
    prometheus.targets.add(address)
    try:
        await anyio.to_thread.run_sync(prometheus.start)
        query = f'count(rate(container_cpu_usage_seconds_total{{namespace="{namespace}"}}[4s]))'
        ready = await anyio.to_thread.run_sync(
            lambda: wait_for_count(prometheus.url, query, pods, timeout_s=180.0)
        )
        if not ready:
            raise SystemExit(f"Prometheus did not have rates for {pods} pods within 180 s.")
        await anyio.sleep(settle_s)
        yield Stack(directory, kubeconfig, address, prometheus.url)
    finally:
        await anyio.to_thread.run_sync(prometheus.stop)
        sandbox.terminate()
        await sandbox.wait()


def service_settings(stack: Stack, namespace: str, **groups: Any) -> dict[str, Any]:
    """Settings for ``claudescale run`` against ``stack``; ``groups`` are merged into each
    group (a mapping) or replace a plain value (``mode``)."""
    settings: dict[str, Any] = {
        "mode": "observe",
        "cluster": {
            "kubeconfig": str(stack.kubeconfig),
            "namespaces": [namespace],
            "request_timeout_s": 60.0,
        },
        "prometheus": {
            "url": stack.prometheus_url,
            "rate_window": "4s",
            "scrape_interval_s": 1.0,
            "query_timeout_s": 30.0,
        },
        "audit": {"path": str(stack.directory / "audit.jsonl")},
        "service": {"port": 0, "log_level": "warning"},
        "loop": {"list_timeout_s": 120.0, "audit_cycles": True},
    }
    for group, values in groups.items():
        if isinstance(values, dict):
            settings[group] = {**settings.get(group, {}), **values}
        else:
            settings[group] = values
    return settings


class Service:
    """``claudescale run`` as a child process, with its audit log and /proc figures."""

    def __init__(self, settings: dict[str, Any], directory: Path) -> None:
        config = directory / "claudescale.yaml"
        config.write_text(yaml.safe_dump(settings))
        self.audit_path = Path(settings["audit"]["path"])
        self.log_path = directory / "claudescale.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "claudescale"), "run", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._read_bytes = 0
        self._records: list[dict[str, Any]] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within ``timeout_s``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The audit records written so far (the current segment), optionally of one kind."""
        if self.audit_path.exists():
            with self.audit_path.open("rb") as log:
                log.seek(self._read_bytes)
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._read_bytes += len(complete)
            self._records.extend(orjson.loads(line) for line in complete.splitlines() if line)
        return [r for r in self._records if kind is None or r.get("kind") == kind]

    def wait_for(
        self, what: str, done: Callable[[], bool], timeout_s: float, poll_s: float = 0.2
    ) -> None:
        """Poll ``done`` until it holds; SystemExit naming ``what`` on timeout or if the
        service exited."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if self.process.poll() is not None:
                code, tail = self.process.returncode, self.log_path.read_text()[-2000:]
                raise SystemExit(f"claudescale run exited ({code}) before {what}:\n{tail}")
            if time.monotonic() > deadline:
                raise SystemExit(f"claudescale run did not reach {what} within {timeout_s:g} s.")
            time.sleep(poll_s)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory now (``VmRSS``) and its peak so far (``VmHWM``), in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return {"rss_mib": values["VmRSS"], "peak_rss_mib": values["VmHWM"]}


def prometheus_queries(url: str) -> float:
    """Instant queries Prometheus has answered (its own ``prometheus_http_requests_total``
    for ``/api/v1/query``): counted on the server, outside the service."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10.0) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line
    )


def merge_results(updates: dict[str, Any], path: Path = RESULTS_JSON) -> None:
    """Write ``updates`` over ``benchmarks/results.json``, keeping every other key."""
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        document = {}
    document.update(updates)
    for section in updates:
        document.pop(f"{section}_note", None)  # the placeholder another benchmark left
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def write_section(name: str, lines: list[str], path: Path = RESULTS_MD) -> None:
    """Rewrite the part of ``benchmarks/RESULTS.md`` between ``<!-- {name}:start -->`` and
    ``<!-- {name}:end -->`` (appended at the end the first time)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = "\n".join([start, *lines, end])
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
