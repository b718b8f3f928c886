"""``claudescale sim`` in the foreground: it prints where it listens, writes a kubeconfig the
product can use, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
import pytest

from claudescale.adapters.kubernetes.cluster import KubernetesCluster
from claudescale.cli.main import main
from claudescale.config.groups import ClusterSettings


async def test_sim_command_serves_the_demo_workloads_until_terminated(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "sim" / "kubeconfig"
    command = [
        sys.executable,
        "-m",
        "claudescale.sim",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
    ]
    output = b""
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None
        with anyio.fail_after(20):
            async for chunk in process.stdout:
                output += chunk
                if b"Press Ctrl-C" in output:
                    break
        settings = ClusterSettings(kubeconfig=kubeconfig, namespaces=("demo",))
        async with await KubernetesCluster.connect(settings) as cluster:
            states = await cluster.list_workloads()
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            status = await process.wait()

    text = output.decode()
    assert "Kubernetes API sandbox on http://127.0.0.1:" in text
    assert f"kubeconfig:  {kubeconfig}" in text
    assert sorted((str(s.ref), s.replicas) for s in states) == [("demo/api", 2), ("demo/web", 3)]
    assert status == 0


def test_sim_command_refuses_a_bad_config_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sim.yaml"
    bad.write_text("workloads: [{name: web, phase: party}]\n")

    status = main(["sim", "--config", str(bad), "--kubeconfig", str(tmp_path / "kc")])

    assert status == 2
    assert "party" in capsys.readouterr().err
    assert not (tmp_path / "kc").exists()
