"""The operator's own Prometheus metrics, in one Recorder with its own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


class Recorder:
    """Counters and histograms of the operator (not of the models).

    glidepath_reconcile_total{result}: reconciles by result (ok, error, invalid).
    glidepath_reconcile_duration_seconds: wall time of one reconcile, seconds.
    glidepath_child_writes_total{kind, action}: server-side applies and prunes of children.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.reconciles = Counter(
            "glidepath_reconcile_total",
            "Reconciles of ModelDeployments by result.",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "glidepath_reconcile_duration_seconds",
            "Wall time of one reconcile in seconds.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.child_writes = Counter(
            "glidepath_child_writes_total",
            "Server-side applies and prunes of child objects.",
            ["kind", "action"],
            registry=self.registry,
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose /metrics on ``addr:port`` from a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)
