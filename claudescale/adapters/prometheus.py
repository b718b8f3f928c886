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

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from string import Template
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import orjson
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from claudescale.config.groups import PrometheusSettings
from claudescale.core.text import printable
from claudescale.core.utilisation import PodSample, measure
from claudescale.core.values import CpuReading, WorkloadRef, WorkloadState
from claudescale.errors import MetricsUnavailable
from claudescale.ports import Clock

PART_LABEL = "claudescale_part"
"""Label the query adds to tell the rate series from the timestamp series."""
_RATE = "rate"
_TIMESTAMP = "timestamp"
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
_CAUSE_CHARS = 300
PROBE_QUERY = "vector(1)"
"""What ``probe`` asks: no series to read, so it costs Prometheus next to nothing."""
_DETAIL_CHARS = 120
_HTTP_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_CONNECT_FAILURES = (
    ("Connection refused", "the connection was refused"),
    ("Name or service not known", "the host name could not be resolved"),
    ("Temporary failure in name resolution", "the host name could not be resolved"),
    ("No route to host", "there is no route to the host"),
    ("Network is unreachable", "the network is unreachable"),
    ("RemoteDisconnected", "it closed the connection without answering"),
)
_HTTP_OK = 200


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
                f"something that is not a PromQL vector: {_short(exc)}"
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

    async def _query(self, query: str) -> Any:
        self.queries_issued += 1
        timeout_s = self._settings.query_timeout_s
        try:
            with anyio.fail_after(timeout_s):
                # Abandoning the thread on timeout gives the loop back at the deadline; the
                # thread itself ends soon after, as requests has the same timeout.
                return await anyio.to_thread.run_sync(
                    partial(self._query_blocking, query),
                    abandon_on_cancel=True,
                    limiter=self._limiter,
                )
        except TimeoutError as exc:
            raise MetricsUnavailable(
                f"Prometheus at {shown_url(self._settings.url)} did not answer the CPU query "
                f"within {timeout_s:g} s."
            ) from exc

    def _query_blocking(self, query: str) -> Any:
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
                return client.custom_query(query=query)
        except PrometheusApiClientException as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} refused the CPU query: {_http_failure(exc)}."
            ) from exc
        except requests.JSONDecodeError as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} answered the CPU query with something that is not JSON."
            ) from exc
        except requests.RequestException as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} could not be reached: {_request_failure(exc)}."
            ) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise MetricsUnavailable(
                f"Prometheus at {where} answered the CPU query with JSON that is not a query "
                f"result: {_short(exc)}"
            ) from exc


def shown_url(url: str) -> str:
    """The URL as messages show it: no user name or password."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _http_failure(exc: PrometheusApiClientException) -> str:
    """``HTTP 503 (unavailable: busy)`` from the client's "HTTP Status Code 503 (b'...')";
    never the request, whose URL carries the whole PromQL query."""
    found = _HTTP_STATUS.match(str(exc))
    if found is None:
        return "an error"
    status, body = found.group(1), found.group(2)
    try:
        answer = orjson.loads(ast.literal_eval(body))
        detail = f"{answer['errorType']}: {answer['error']}"
    except (ValueError, SyntaxError, TypeError, KeyError, orjson.JSONDecodeError):
        return f"HTTP {status}"
    return f"HTTP {status} ({printable(_clip(str(detail).rstrip('.')))})"


def _request_failure(exc: requests.RequestException) -> str:
    """What went wrong on the way, in words: requests' own text repeats the request URL."""
    if isinstance(exc, requests.Timeout):
        return "the connection timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    text = str(exc)
    for needle, words in _CONNECT_FAILURES:
        if needle in text:
            return words
    errno = _ERRNO.search(text)
    if errno is not None:
        return _clip(errno.group(1).strip().rstrip(".").lower())
    return type(exc).__name__


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _CAUSE_CHARS else text[:_CAUSE_CHARS] + "…"
