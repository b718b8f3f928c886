"""CPU utilisation from Prometheus: the product's ``MetricsSource``.

Layer: adapter. It is the only code that speaks PromQL. Each ``cpu()`` call sends exactly one
instant query, whatever the number of workloads: the per-pod CPU rate (cAdvisor's
``container_cpu_usage_seconds_total`` by default) and the timestamp of each pod's newest
sample, for the managed namespaces only. Pods are matched to workloads by the pod names the
cluster adapter listed, never by guessing from labels, and the utilisation itself is computed
by the pure ``claudescale.core.utilisation.measure``.

prometheus-api-client is blocking (requests), so the query runs in a worker thread, under
``fail_after(query_timeout_s)`` and a capacity limiter of ``max_concurrent_queries``. Its
internal retries are switched off: a Prometheus that is down fails this cycle at once, and the
next cycle is the retry. Every failure becomes ``MetricsUnavailable`` keeping the cause. Bad
data (NaN, Inf, no series) is not an error here: it becomes a reading that the guardrails
refuse to act on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from string import Template
from typing import Any

import anyio
import anyio.to_thread
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from claudescale.adapters.prometheus_errors import (
    http_failure,
    request_failure,
    short,
    shown_url,
)
from claudescale.config.groups import PrometheusSettings
from claudescale.core.utilisation import PodSample, measure
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.errors import MetricsUnavailable
from claudescale.ports import Clock

PART_LABEL = "claudescale_part"
"""Label the query adds to tell the rate series from the timestamp series."""
_RATE = "rate"
_TIMESTAMP = "timestamp"
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
PROBE_QUERY = "vector(1)"
"""What ``probe`` asks: no series to read, so it costs Prometheus next to nothing."""
_HTTP_OK = 200
_COUNT = "count"
REPLICAS_METRIC = "claudescale_workload_desired_replicas"
"""claudescale's own ``/metrics`` gauge, when Prometheus scrapes it (``replica_series``)."""


def namespace_regex(namespaces: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these namespaces (PromQL anchors it)."""
    escaped = ("".join(f"\\{c}" if c in _RE2_SPECIAL else c for c in ns) for ns in namespaces)
    return "|".join(sorted(set(escaped)))


def _promql_string_body(text: str) -> str:
    """Escape text for the inside of a double-quoted PromQL string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def build_cpu_query(settings: PrometheusSettings, namespaces: Iterable[str]) -> str:
    """The one query for these namespaces: per (namespace, pod), the CPU rate in cores and
    the Unix time of the newest raw sample, told apart by the ``claudescale_part`` label."""
    selector = Template(settings.cpu_series_selector).safe_substitute(
        namespace_regex=_promql_string_body(namespace_regex(namespaces))
    )
    rate = f"sum by (namespace, pod) (rate({selector}[{settings.rate_window}]))"
    newest = f"max by (namespace, pod) (timestamp({selector}))"
    return (
        f'label_replace({rate}, "{PART_LABEL}", "{_RATE}", "", "")'
        f' or label_replace({newest}, "{PART_LABEL}", "{_TIMESTAMP}", "", "")'
    )


def parse_cpu_result(result: object) -> dict[tuple[str, str], PodSample]:
    """Per (namespace, pod), the sample from a ``build_cpu_query`` result.

    A pod needs both parts: a rate without a timestamp means Prometheus marked the series
    stale (its target or the series went away), and a timestamp without a rate means fewer
    than two samples in the window (a new pod). Either way the pod has no sample, and
    ``measure`` reports it missing. Values are kept as Prometheus gives them, "NaN" and
    "+Inf" included. Raises ValueError when the result is not a PromQL instant vector.
    """
    if not isinstance(result, list):
        raise ValueError(f"expected a list of series, got {type(result).__name__}")
    rates: dict[tuple[str, str], float] = {}
    stamps: dict[tuple[str, str], float] = {}
    for item in result:
        if not isinstance(item, dict):
            raise ValueError(f"expected a series object, got {type(item).__name__}")
        labels, value = item.get("metric"), item.get("value")
        if not isinstance(labels, dict) or not isinstance(value, list) or len(value) != 2:
            raise ValueError(f"series {str(item)[:100]!r} is not a PromQL instant vector element")
        number = float(value[1])
        namespace, pod, part = labels.get("namespace"), labels.get("pod"), labels.get(PART_LABEL)
        if not isinstance(namespace, str) or not isinstance(pod, str) or not pod:
            continue
        if part == _RATE:
            rates[namespace, pod] = number
        elif part == _TIMESTAMP:
            stamps[namespace, pod] = number
    return {key: PodSample(rates[key], stamps[key]) for key in rates.keys() & stamps.keys()}


class PrometheusMetrics:
    """``MetricsSource`` on a real Prometheus. ``queries_issued`` counts queries sent."""

    def __init__(self, settings: PrometheusSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._limiter = anyio.CapacityLimiter(settings.max_concurrent_queries)
        self.queries_issued = 0

    async def cpu(self, workloads: Sequence[WorkloadState]) -> Mapping[WorkloadRef, CpuReading]:
        """One reading per workload, from one query. No workloads, no query.

        Raises MetricsUnavailable when Prometheus cannot be reached, answers with an error or
        with something that is not a PromQL result, or takes longer than query_timeout_s.
        """
        if not workloads:
            return {}
        query = build_cpu_query(self._settings, (w.ref.namespace for w in workloads))
        result = await self._query(query)
        try:
            samples = parse_cpu_result(result)
        except (ValueError, TypeError) as exc:
            raise MetricsUnavailable(
                f"Prometheus at {shown_url(self._settings.url)} answered the CPU query with "
                f"something that is not a PromQL vector: {short(exc)}"
            ) from exc
        now_wall_s = self._clock.wall()
        readings: dict[WorkloadRef, CpuReading] = {}
        for state in workloads:
            namespace = state.ref.namespace
            mine = {
                pod.name: samples[namespace, pod.name]
                for pod in state.pods
                if (namespace, pod.name) in samples
            }
            readings[state.ref] = measure(state, mine, now_wall_s=now_wall_s)
        return readings

    async def probe(self) -> None:
        """``ports.Probe``: one constant query (``vector(1)``), which a Prometheus still
        starting or replaying its write-ahead log refuses; MetricsUnavailable when it fails."""
        await self._query(PROBE_QUERY)

    async def cpu_series(
        self, state: WorkloadState, window_s: float, step_s: float
    ) -> list[tuple[float, float | None]]:
        """(Unix time, CPU percent of requests) every ``step_s`` over the last ``window_s``,
        from one range query: the summed rate and the number of the Deployment's pods
        (names ``<name>-<hash>-<suffix>``) over the per-pod request of its current pods.
        Empty when the workload has no pod with a request; MetricsUnavailable as ``cpu``."""
        requests_ = [p.cpu_request_cores for p in state.pods if p.cpu_request_cores]
        if not requests_:
            return []
        per_pod_cores = sum(requests_) / len(requests_)
        ref = state.ref
        selector = Template(self._settings.cpu_series_selector).safe_substitute(
            namespace_regex=_promql_string_body(namespace_regex([ref.namespace]))
        )
        pods = _promql_string_body(f"{namespace_regex([ref.name])}-[a-z0-9]+-[a-z0-9]+")
        matcher = f'pod=~"{pods}"'
        if selector.endswith("}"):
            selector = f"{selector[:-1].rstrip(',')},{matcher}}}"
        else:
            selector = f"{selector}{{{matcher}}}"
        per_pod = f"sum by (pod) (rate({selector}[{self._settings.rate_window}]))"
        query = (
            f'label_replace(sum({per_pod}), "{PART_LABEL}", "{_RATE}", "", "")'
            f' or label_replace(count({per_pod}), "{PART_LABEL}", "{_COUNT}", "", "")'
        )
        parts = _range_parts(await self._range(query, window_s, step_s))
        cores, counts = parts.get(_RATE, {}), parts.get(_COUNT, {})
        series: list[tuple[float, float | None]] = []
        for at in sorted(counts):
            used, pods_n = cores.get(at), counts[at]
            percent = None
            if used is not None and pods_n > 0 and math.isfinite(used):
                percent = 100.0 * used / (pods_n * per_pod_cores)
            series.append((at, percent))
        return series

    async def replica_series(
        self, ref: WorkloadRef, window_s: float, step_s: float
    ) -> list[tuple[float, int]]:
        """(Unix time, desired replicas) from claudescale's own ``/metrics`` gauge; empty
        when Prometheus does not scrape it. MetricsUnavailable as ``cpu``."""
        namespace = _promql_string_body(ref.namespace)
        name = _promql_string_body(ref.name)
        query = f'max({REPLICAS_METRIC}{{namespace="{namespace}",deployment="{name}"}})'
        result = await self._range(query, window_s, step_s)
        values = _range_parts(result, part=None).get("", {})
        return [(at, int(v)) for at, v in sorted(values.items()) if math.isfinite(v)]

    async def _range(self, query: str, window_s: float, step_s: float) -> Any:
        end = self._clock.wall()
        start = datetime.fromtimestamp(end - window_s, UTC)
        stop = datetime.fromtimestamp(end, UTC)
        step = f"{max(1, round(step_s))}s"
        return await self._query(
            query, lambda c: c.custom_query_range(query, start_time=start, end_time=stop, step=step)
        )

    async def _query(
        self, query: str, run: Callable[[PrometheusConnect], Any] | None = None
    ) -> Any:
        self.queries_issued += 1
        timeout_s = self._settings.query_timeout_s
        try:
            with anyio.fail_after(timeout_s):
                # Abandoning the thread on timeout gives the loop back at the deadline; the
                # thread itself ends soon after, as requests has the same timeout.
                return await anyio.to_thread.run_sync(
                    partial(self._query_blocking, query, run),
                    abandon_on_cancel=True,
                    limiter=self._limiter,
                )
        except TimeoutError as exc:
            raise MetricsUnavailable(
                f"Prometheus at {shown_url(self._settings.url)} did not answer the CPU query "
                f"within {timeout_s:g} s."
            ) from exc

    def _query_blocking(
        self, query: str, run: Callable[[PrometheusConnect], Any] | None = None
    ) -> Any:
        """Runs in a worker thread. A client (and its requests session) per query: no
        session is shared between threads, and an abandoned thread closes its own."""
        url = self._settings.url
        where = shown_url(url)
        try:
            with PrometheusConnect(
                url=url,
                disable_ssl=not self._settings.verify_tls,
                retry=Retry(total=0, redirect=0, status_forcelist=()),
                timeout=self._settings.query_timeout_s,
            ) as client:
                return client.custom_query(query=query) if run is None else run(client)
        except PrometheusApiClientException as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} refused the CPU query: {http_failure(exc)}."
            ) from exc
        except requests.JSONDecodeError as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} answered the CPU query with something that is not JSON."
            ) from exc
        except requests.RequestException as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} could not be reached: {request_failure(exc)}."
            ) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} answered the CPU query with JSON that is not a query "
                f"result: {short(exc)}"
            ) from exc


def _range_parts(result: object, part: str | None = PART_LABEL) -> dict[str, dict[float, float]]:
    """Per ``part`` label value ("" without one), the values of a range result by time.
    Raises MetricsUnavailable when the result is not a PromQL matrix."""
    parts: dict[str, dict[float, float]] = {}
    try:
        for item in result if isinstance(result, list) else ():
            name = "" if part is None else str(item["metric"].get(part, ""))
            found = parts.setdefault(name, {})
            for at, value in item["values"]:
                found[float(at)] = float(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MetricsUnavailable(
            f"Prometheus answered a range query with something that is not a matrix: {short(exc)}"
        ) from exc
    return parts
