"""The runtime's Prometheus metrics, served on ``GET /metrics`` in the Prometheus text format.

The names and labels below are a contract: the operator's canary analysis queries them (error rate =
non-2xx share of :data:`INFERENCE_REQUESTS_TOTAL`, latency quantiles from the buckets of
:data:`INFERENCE_REQUEST_DURATION_SECONDS`). Change them only together with the operator's queries.

Labels ``model`` and ``version`` are the *served* model's name and version (``""`` for an unversioned
model), not whatever a client put in the URL, so a client cannot create label values. Requests that
name no served model (404) are counted under the server's first model.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

INFERENCE_REQUESTS_TOTAL: Final = "glidepath_inference_requests_total"
"""Counter: inference requests answered, by outcome.

Labels: ``model``, ``version``, ``protocol`` (:data:`PROTOCOLS`), ``code``: the HTTP status as a string
(``"200"``, ``"400"``, ``"503"`` …; ``"499"`` when the client went away first). gRPC statuses are
counted as their HTTP equivalents (:data:`GRPC_TO_HTTP`), so one ``code!~"2.."`` query covers every
protocol. Counts every request to an inference route, including those answered 404 or 503. The
``code="200"`` series of each protocol exists at 0 from startup.
"""

INFERENCE_REQUEST_DURATION_SECONDS: Final = "glidepath_inference_request_duration_seconds"
"""Histogram: seconds from the first byte of an inference request to its response being handed to the
transport (body read, decode, queue, model run, encode), for every outcome.

Labels: ``model``, ``version``, ``protocol``. Buckets: :data:`DURATION_BUCKETS`.
"""

INFERENCE_QUEUE_DURATION_SECONDS: Final = "glidepath_inference_queue_duration_seconds"
"""Histogram: seconds a decoded request waited in its model's queue before its execution started
(includes the dynamic batcher's delay). Labels: ``model``, ``version``. Buckets: :data:`QUEUE_BUCKETS`.
"""

INFERENCE_BATCH_SIZE: Final = "glidepath_inference_batch_size"
"""Histogram: rows (first-dimension entries, summed over the requests combined) of each model execution;
its ``_count`` is the number of executions. For a model without a batch dimension a request counts as 1.
Labels: ``model``, ``version``. Buckets: :data:`BATCH_BUCKETS`.
"""

INFERENCE_REQUESTS_IN_FLIGHT: Final = "glidepath_inference_requests_in_flight"
"""Gauge: inference requests received (routed to the model) and not yet answered.
Labels: ``model``, ``version``."""

INFERENCE_QUEUE_SIZE: Final = "glidepath_inference_queue_size"
"""Gauge: requests waiting in the model's queue (not yet executing); at ``--max-queue-size`` new ones
get 503. Labels: ``model``, ``version``."""

MODEL_READY: Final = "glidepath_model_ready"
"""Gauge: 1 when the model is loaded and the server is not shutting down, else 0.
Labels: ``model``, ``version``."""

LABEL_MODEL: Final = "model"
LABEL_VERSION: Final = "version"
LABEL_PROTOCOL: Final = "protocol"
LABEL_CODE: Final = "code"

#: ``protocol`` label value of the Open Inference Protocol REST API.
PROTOCOL_V2: Final = "v2"
#: ``protocol`` label value of the Open Inference Protocol gRPC API.
PROTOCOL_GRPC: Final = "grpc"
#: ``protocol`` label value of the TF Serving REST predict API.
PROTOCOL_TFSERVING: Final = "tfserving"
PROTOCOLS: Final = (PROTOCOL_V2, PROTOCOL_GRPC, PROTOCOL_TFSERVING)

#: gRPC status code name -> the HTTP status counted in ``code``.
GRPC_TO_HTTP: Final[dict[str, int]] = {
    "OK": 200,
    "CANCELLED": 499,
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 413,
    "UNAVAILABLE": 503,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNKNOWN": 500,
}

DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Request duration bucket upper bounds in seconds: 0.5 ms to 10 s, fine enough for a p99 threshold of
tens of milliseconds and for the 0.25 s latency threshold of the default analysis."""

QUEUE_BUCKETS: Final[tuple[float, ...]] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
"""Queue time bucket upper bounds in seconds: 50 µs to 1 s."""

BATCH_BUCKETS: Final[tuple[float, ...]] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Batch size bucket upper bounds in rows."""


def _le(bound: float) -> str:
    """A bucket bound as Prometheus' Python client writes it (``0.005``, ``1.0``, ``+Inf``)."""
    return "+Inf" if bound == math.inf else repr(float(bound))


class _Histogram:
    """A histogram updated from the event loop thread only: no lock, one list index and two adds."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last."""
        cumulative = list(itertools.accumulate(self.counts))
        return [(_le(b), c) for b, c in zip([*self.bounds, math.inf], cumulative, strict=True)]


class ModelMetrics:
    """The series of one served model.

    Updated on every request, so they are plain counters in Python objects rather than
    ``prometheus_client`` children with a lock each (which cost several microseconds per request);
    :class:`RuntimeMetrics` exposes them at scrape time. Call the update methods from the event loop
    thread only.
    """

    def __init__(self, model: str, version: str) -> None:
        self.model = model
        self.version = version
        self.requests: dict[tuple[str, int], int] = {(protocol, 200): 0 for protocol in PROTOCOLS}
        self.durations: dict[str, _Histogram] = {}
        self.queue = _Histogram(QUEUE_BUCKETS)
        self.batch = _Histogram(BATCH_BUCKETS)
        self.in_flight = 0
        self.queue_size: Callable[[], float] = lambda: 0.0
        self.ready: Callable[[], bool] = lambda: False

    def observe(self, protocol: str, code: int, seconds: float) -> None:
        """Record one inference request answered with (HTTP) status ``code`` after ``seconds``."""
        key = (protocol, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.durations.get(protocol)
        if histogram is None:
            histogram = self.durations[protocol] = _Histogram(DURATION_BUCKETS)
        histogram.observe(seconds)

    def started(self) -> None:
        """A request for this model arrived (in-flight +1)."""
        self.in_flight += 1

    def finished(self) -> None:
        """A request for this model was answered (in-flight -1)."""
        self.in_flight -= 1

    def queued(self, seconds: float) -> None:
        """A request waited ``seconds`` in the queue before its execution started."""
        self.queue.observe(seconds)

    def executed(self, rows: int) -> None:
        """One model execution of ``rows`` rows."""
        self.batch.observe(rows)

    def track_queue_size(self, size: Callable[[], float]) -> None:
        """Report ``size()`` as the queue size gauge at every scrape."""
        self.queue_size = size

    def track_ready(self, ready: Callable[[], bool]) -> None:
        """Report ``ready()`` as the model-ready gauge at every scrape."""
        self.ready = ready


class _ModelCollector:
    """Exposes every :class:`ModelMetrics` of a server at scrape time."""

    def __init__(self) -> None:
        self.models: list[ModelMetrics] = []

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            INFERENCE_REQUESTS_TOTAL.removesuffix("_total"),
            "Inference requests answered, by protocol and HTTP status code.",
            labels=[LABEL_MODEL, LABEL_VERSION, LABEL_PROTOCOL, LABEL_CODE],
        )
        duration = HistogramMetricFamily(
            INFERENCE_REQUEST_DURATION_SECONDS,
            "Seconds from the start of an inference request to its response.",
            labels=[LABEL_MODEL, LABEL_VERSION, LABEL_PROTOCOL],
        )
        queue = HistogramMetricFamily(
            INFERENCE_QUEUE_DURATION_SECONDS,
            "Seconds a request waited in its model's queue before execution.",
            labels=[LABEL_MODEL, LABEL_VERSION],
        )
        batch = HistogramMetricFamily(
            INFERENCE_BATCH_SIZE, "Rows per model execution.", labels=[LABEL_MODEL, LABEL_VERSION]
        )
        in_flight = GaugeMetricFamily(
            INFERENCE_REQUESTS_IN_FLIGHT,
            "Inference requests being handled.",
            labels=[LABEL_MODEL, LABEL_VERSION],
        )
        queue_size = GaugeMetricFamily(
            INFERENCE_QUEUE_SIZE,
            "Requests waiting in the model's queue.",
            labels=[LABEL_MODEL, LABEL_VERSION],
        )
        ready = GaugeMetricFamily(
            MODEL_READY, "1 when the model is ready.", labels=[LABEL_MODEL, LABEL_VERSION]
        )
        for m in self.models:
            labels = [m.model, m.version]
            for (protocol, code), count in sorted(m.requests.items()):
                requests.add_metric([*labels, protocol, str(code)], count)
            for protocol, histogram in sorted(m.durations.items()):
                duration.add_metric([*labels, protocol], histogram.buckets(), histogram.sum)
            queue.add_metric(labels, m.queue.buckets(), m.queue.sum)
            batch.add_metric(labels, m.batch.buckets(), m.batch.sum)
            in_flight.add_metric(labels, m.in_flight)
            queue_size.add_metric(labels, m.queue_size())
            ready.add_metric(labels, float(m.ready()))
        yield from (requests, duration, queue, batch, in_flight, queue_size, ready)


class RuntimeMetrics:
    """The metrics of one server, in their own registry (plus process, platform and GC metrics).

    Args:
        registry: where to register; a fresh :class:`CollectorRegistry` by default, so several servers
            can live in one process (tests) without clashing.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.registry = registry
        self._collector = _ModelCollector()
        registry.register(self._collector)

    def for_model(self, model: str, version: str | None) -> ModelMetrics:
        """The series of one model (``version`` ``None`` becomes ``""``)."""
        metrics = ModelMetrics(model, version or "")
        self._collector.models.append(metrics)
        return metrics

    def exposition(self) -> tuple[bytes, str]:
        """The current metrics in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
