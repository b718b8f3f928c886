"""A local Prometheus (Debian's binary) on a free loopback port, for the tests and the demo.

Layer: edge (a child process and files). It writes a configuration whose only scrape job reads
its targets from a file_sd JSON file (``ScrapeTargets``), which can be rewritten while
Prometheus runs, starts ``prometheus`` with a private data directory on 127.0.0.1, waits with a
deadline until ``/-/ready`` answers, and stops it; ``wait_for_count`` waits (bounded) until
scraped data is there. It is blocking code (call it from a thread in async code) and knows
nothing about what the targets export. The product's own path to Prometheus is
``claudescale.adapters.prometheus``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from claudescale.errors import ClaudescaleError

DEFAULT_BINARY = Path("/usr/bin/prometheus")
_PORT_ATTEMPTS = 3
_POLL_S = 0.1
_LOG_TAIL_CHARS = 2000


class PrometheusProcessError(ClaudescaleError):
    """Prometheus could not be found, started or made ready in time."""


class ScrapeTargets:
    """The file_sd_configs JSON file Prometheus reads its scrape targets from.

    Every change rewrites the file atomically (write, then rename), so Prometheus never reads
    half a file; it notices the change within its refresh interval (and usually at once,
    through inotify). Safe to call from several threads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._targets: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._write()

    def add(self, address: str, labels: Mapping[str, str] | None = None) -> None:
        """Scrape ``host:port`` (path ``/metrics``) with extra target labels."""
        with self._lock:
            self._targets[address] = dict(labels or {})
            self._write()

    def remove(self, address: str) -> None:
        """Stop scraping ``host:port``; unknown addresses are ignored."""
        with self._lock:
            if self._targets.pop(address, None) is not None:
                self._write()

    @property
    def addresses(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._targets)

    def _write(self) -> None:
        groups = [
            {"targets": [address], "labels": labels}
            for address, labels in sorted(self._targets.items())
        ]
        scratch = self.path.with_name(f".{self.path.name}.tmp")
        scratch.write_text(json.dumps(groups, indent=2), encoding="utf-8")
        os.replace(scratch, self.path)


class PrometheusProcess:
    """One ``prometheus`` child process on 127.0.0.1; use as a context manager or call
    ``start()`` and ``stop()``.

    ``workdir`` holds the configuration, the targets file, the TSDB and the log; when None a
    temporary directory is created and removed at ``stop()``.
    """

    def __init__(
        self,
        *,
        scrape_interval_s: float = 1.0,
        binary: Path = DEFAULT_BINARY,
        workdir: Path | None = None,
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        sd_refresh_interval_s: float = 1.0,
    ) -> None:
        if scrape_interval_s <= 0 or sd_refresh_interval_s <= 0:
            raise ValueError("Scrape and refresh intervals must be positive seconds.")
        self.scrape_interval_s = scrape_interval_s
        self.binary = binary
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.sd_refresh_interval_s = sd_refresh_interval_s
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="claudescale-prometheus-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.targets = ScrapeTargets(self.workdir / "targets.json")
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self._process is None:
            raise PrometheusProcessError("Prometheus is not running, so it has no URL yet.")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start Prometheus and return once it is ready; raises PrometheusProcessError."""
        if self._process is not None:
            raise PrometheusProcessError("This Prometheus is already running.")
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            self._cleanup_workdir()
            raise PrometheusProcessError(
                f"Prometheus is not installed at {self.binary}; `make test` (or `make "
                "prometheus`) installs Debian's package."
            )
        config = self.workdir / "prometheus.yml"
        config.write_text(self._config_text(), encoding="utf-8")
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                if self._try_start(config, last_attempt=attempt == _PORT_ATTEMPTS):
                    return self
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    def stop(self) -> None:
        """Terminate Prometheus (kill it if it does not exit in time) and clean up. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, self.stop_timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._cleanup_workdir()

    def halt(self) -> None:
        """Stop the process but keep its port, configuration, targets and data, so that
        ``resume()`` brings the same Prometheus back: an outage, as its clients see it."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, self.stop_timeout_s)

    def resume(self) -> Self:
        """Start again after ``halt()``, on the same port and data directory, and return once
        ready; raises PrometheusProcessError when the port was taken meanwhile."""
        if self._process is not None:
            raise PrometheusProcessError("This Prometheus is already running.")
        try:
            self._try_start(self.workdir / "prometheus.yml", last_attempt=True, port=self.port)
        except BaseException:
            self.stop()
            raise
        return self

    def _cleanup_workdir(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _config_text(self) -> str:
        interval = _duration(self.scrape_interval_s)
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [
                {
                    "job_name": "claudescale",
                    "file_sd_configs": [
                        {
                            "files": [str(self.targets.path)],
                            "refresh_interval": _duration(self.sd_refresh_interval_s),
                        }
                    ],
                }
            ],
        }
        # JSON is YAML; no need for a YAML writer.
        return json.dumps(config, indent=2)

    def _try_start(self, config: Path, *, last_attempt: bool, port: int = 0) -> bool:
        """One start on ``port``, else a fresh one. False when the port was taken meanwhile
        (try again)."""
        self.port = port or _free_port()
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab" if port else "wb")
        self._process = subprocess.Popen(
            [
                str(self.binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=2h",
                "--log.level=info",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._is_ready():
                return True
            try:
                returncode = self._process.wait(timeout=_POLL_S)
            except subprocess.TimeoutExpired:
                continue
            self._process = None
            log = self._log_tail()
            if "address already in use" in log and not last_attempt:
                return False
            raise PrometheusProcessError(
                f"Prometheus exited with status {returncode} while starting; its log "
                f"({self.log_path}) ends with:\n{log}"
            )
        raise PrometheusProcessError(
            f"Prometheus on 127.0.0.1:{self.port} was not ready within "
            f"{self.ready_timeout_s:g} s; its log ({self.log_path}) ends with:\n{self._log_tail()}"
        )

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1.0) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return text[-_LOG_TAIL_CHARS:]


def instant_query(url: str, promql: str, *, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """One instant query against the Prometheus at ``url``; the raw ``data.result`` list."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(address, timeout=timeout_s) as answer:
        result: list[dict[str, Any]] = json.load(answer)["data"]["result"]
    return result


def wait_for_count(
    url: str, promql: str, at_least: float, *, timeout_s: float, poll_s: float = 0.5
) -> bool:
    """Poll a query whose one value is a count (``count(...)``) until it reaches
    ``at_least``; False when ``timeout_s`` runs out first. Prometheus cannot be asked to
    wait for data, so this polls, bounded by the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = instant_query(url, promql)
        if result and float(result[0]["value"][1]) >= at_least:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)


def _free_port() -> int:
    """A port free on 127.0.0.1 right now (it may be taken before Prometheus binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _duration(seconds: float) -> str:
    """A Prometheus duration; milliseconds keep sub-second intervals exact."""
    return f"{max(1, round(seconds * 1000))}ms"
