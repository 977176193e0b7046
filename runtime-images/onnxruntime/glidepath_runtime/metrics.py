"""The runtime's Prometheus metrics, served on ``GET /metrics`` in the Prometheus text format.

The names and labels below are a contract: the operator's canary analysis queries them (error rate =
non-2xx share of :data:`INFERENCE_REQUESTS_TOTAL`, latency quantiles from the buckets of
:data:`INFERENCE_REQUEST_DURATION_SECONDS`). Change them only together with the operator's queries.

Labels ``model`` and ``version`` are the *served* model's name and version (``""`` for an unversioned
model), not whatever a client put in the URL, so a client cannot create label values.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

INFERENCE_REQUESTS_TOTAL: Final = "glidepath_inference_requests_total"
"""Counter: inference requests answered, by outcome.

Labels: ``model``, ``version``, ``protocol`` (``"v2"`` for Open Inference Protocol REST), ``code`` (the
HTTP status as a string, e.g. ``"200"``, ``"400"``, ``"503"``; ``"499"`` when the client went away
before sending its whole body). Counts every request to an inference route
(``/v2/models/{name}[/versions/{v}]/infer``), including those answered 404 or 503. The ``code="200"``
series exists at 0 from startup.
"""

INFERENCE_REQUEST_DURATION_SECONDS: Final = "glidepath_inference_request_duration_seconds"
"""Histogram: seconds from the start of an inference request to its response being handed to the
server (body read, decode, model run, encode), for every outcome.

Labels: ``model``, ``version``, ``protocol``. Buckets: :data:`DURATION_BUCKETS`.
"""

LABEL_MODEL: Final = "model"
LABEL_VERSION: Final = "version"
LABEL_PROTOCOL: Final = "protocol"
LABEL_CODE: Final = "code"

#: ``protocol`` label value of the Open Inference Protocol REST API.
PROTOCOL_V2: Final = "v2"

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
"""Histogram bucket upper bounds in seconds: 0.5 ms to 10 s, fine enough for a p99 threshold of
tens of milliseconds and for the 0.25 s latency threshold of the default analysis."""


class RuntimeMetrics:
    """The metrics of one served model, in their own registry (plus process, platform and GC metrics).

    Args:
        model: the served model's name (``model`` label).
        version: its version (``version`` label); ``None`` becomes ``""``.
        registry: where to register; a fresh :class:`CollectorRegistry` by default, so several servers
            can live in one process (tests) without clashing.
    """

    def __init__(self, model: str, version: str | None, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.registry = registry
        self._model = model
        self._version = version or ""
        self._requests = Counter(
            INFERENCE_REQUESTS_TOTAL,
            "Inference requests answered, by HTTP status code.",
            [LABEL_MODEL, LABEL_VERSION, LABEL_PROTOCOL, LABEL_CODE],
            registry=registry,
        )
        self._duration = Histogram(
            INFERENCE_REQUEST_DURATION_SECONDS,
            "Seconds from the start of an inference request to its response.",
            [LABEL_MODEL, LABEL_VERSION, LABEL_PROTOCOL],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        # Label lookups cost more than the increments; cache the children.
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._duration_children: dict[str, Histogram] = {}
        # Export the success series at zero from the start, so rate() and ratios have a baseline.
        self._child(PROTOCOL_V2, 200)

    def _child(self, protocol: str, code: int) -> tuple[Counter, Histogram]:
        counter = self._request_children.get((protocol, code))
        if counter is None:
            counter = self._requests.labels(self._model, self._version, protocol, str(code))
            self._request_children[(protocol, code)] = counter
        histogram = self._duration_children.get(protocol)
        if histogram is None:
            histogram = self._duration.labels(self._model, self._version, protocol)
            self._duration_children[protocol] = histogram
        return counter, histogram

    def observe(self, protocol: str, code: int, seconds: float) -> None:
        """Record one inference request answered with HTTP status ``code`` after ``seconds``."""
        counter, histogram = self._child(protocol, code)
        counter.inc()
        histogram.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The current metrics in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
