"""The operator's own Prometheus metrics, in one Recorder with its own registry."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from glidepath.api import ModelDeploymentStatus, Phase


class Recorder:
    """Counters and histograms of the operator (not of the models).

    glidepath_reconcile_total{result}: reconciles by result (ok, error, invalid).
    glidepath_reconcile_duration_seconds: wall time of one reconcile, seconds.
    glidepath_child_writes_total{kind, action}: server-side applies and prunes of children.
    glidepath_model_deployment_ready{namespace, name}: 1 when condition Ready is True, else 0.
    glidepath_model_deployment_phase{namespace, name, phase}: 1 for the current phase, 0 for the others.
    glidepath_canary_weight{namespace, name}: percent of traffic the current canary step asks for (0 without).
    glidepath_canary_failed_checks{namespace, name}: failed analysis checks of the current canary.
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

        labels = ["namespace", "name"]
        self.ready = Gauge(
            "glidepath_model_deployment_ready",
            "1 when the ModelDeployment's Ready condition is True.",
            labels,
            registry=self.registry,
        )
        self.phase = Gauge(
            "glidepath_model_deployment_phase",
            "1 for the ModelDeployment's current phase.",
            [*labels, "phase"],
            registry=self.registry,
        )
        self.canary_weight = Gauge(
            "glidepath_canary_weight",
            "Percent of traffic the current canary step asks for.",
            labels,
            registry=self.registry,
        )
        self.canary_failed_checks = Gauge(
            "glidepath_canary_failed_checks",
            "Failed analysis checks of the current canary.",
            labels,
            registry=self.registry,
        )

    def record_status(self, namespace: str, name: str, status: ModelDeploymentStatus) -> None:
        """Set the per-ModelDeployment gauges from its status."""
        ready = status.condition("Ready")
        self.ready.labels(namespace, name).set(1 if ready is not None and ready.status == "True" else 0)
        for phase in Phase:
            self.phase.labels(namespace, name, phase.value).set(1 if status.phase == phase else 0)
        canary = status.canary
        self.canary_weight.labels(namespace, name).set(canary.weight if canary is not None else 0)
        self.canary_failed_checks.labels(namespace, name).set(
            canary.failed_checks if canary is not None else 0
        )

    def forget(self, namespace: str, name: str) -> None:
        """Drop the gauges of a deleted ModelDeployment."""
        for gauge in (self.ready, self.canary_weight, self.canary_failed_checks):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        for phase in Phase:
            with contextlib.suppress(KeyError):
                self.phase.remove(namespace, name, phase.value)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose /metrics on ``addr:port`` from a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)
