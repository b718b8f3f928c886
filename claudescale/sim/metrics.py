"""Per-pod CPU counters in cAdvisor's exposition format, for a real Prometheus to scrape.

Layer: sandbox. One ``container_cpu_usage_seconds_total{namespace,pod,container}`` series per
container of every pod that still exists, as the kubelet's cAdvisor endpoint serves them.
"""

from __future__ import annotations

from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRIC = "container_cpu_usage_seconds_total"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(counters: Iterable[tuple[str, str, str, float]]) -> str:
    """Text exposition of (namespace, pod, container, cpu seconds) counters."""
    lines = [
        f"# HELP {METRIC} Cumulative cpu time consumed in seconds.",
        f"# TYPE {METRIC} counter",
    ]
    for namespace, pod, container, seconds in counters:
        labels = (
            f'container="{_label(container)}",cpu="total",'
            f'namespace="{_label(namespace)}",pod="{_label(pod)}"'
        )
        lines.append(f"{METRIC}{{{labels}}} {seconds:.6f}")
    return "\n".join(lines) + "\n"
