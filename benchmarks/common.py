"""Shared by the benchmarks: starting the sandbox as its own process, and writing results."""

from __future__ import annotations

import asyncio
import os
import platform
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

RESULTS_DIR = Path(__file__).parent / "results"


async def start_sandbox(
    directory: Path, sim_config: dict[str, Any], *, ready_timeout_s: float = 300.0
) -> tuple[asyncio.subprocess.Process, Path, str]:
    """Start ``claudescale sim`` with this config in a process of its own (so that the
    process measured is only the client); returns the process, its kubeconfig and address."""
    config = directory / "sim.yaml"
    config.write_text(yaml.safe_dump(sim_config))
    kubeconfig = directory / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "claudescale.sim",
        "--port",
        "0",
        "--config",
        str(config),
        "--kubeconfig",
        str(kubeconfig),
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 2**20,  # the banner names every workload on one line
    )
    assert process.stdout is not None
    banner = b""
    try:
        async with asyncio.timeout(ready_timeout_s):
            while b"Press Ctrl-C" not in banner:
                line = await process.stdout.readline()
                if not line:
                    raise SystemExit("claudescale sim exited before it was ready.")
                banner += line
    except BaseException:
        process.terminate()
        await process.wait()
        raise
    address = banner.split(b"sandbox on http://", 1)[1].split(b"\n", 1)[0].decode()
    return process, kubeconfig, address


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` and print it."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    path.write_bytes(text + b"\n")
    sys.stdout.write(text.decode() + "\n")
    return path


def machine() -> str:
    """The machine a result was measured on, as RESULTS.md names it."""
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
