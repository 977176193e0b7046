"""PURE analysis: PromQL rendered from strict templates, figures judged against thresholds.

The queries read the runtime's metrics (runtime-images/onnxruntime, ``glidepath_runtime/metrics.py``),
scraped through the ServiceMonitor, whose ``podTargetLabels`` add the pod's track label
(``serving_glidepath_io_track`` in Prometheus); ``model`` is the ModelDeployment's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jinja2

from glidepath.api import AnalysisMetric, MetricResult

TRACK_LABEL = "serving_glidepath_io_track"
_SELECTOR = 'namespace="{{ namespace }}", model="{{ name }}", ' + TRACK_LABEL + '="{{ track }}"'
_TF_SELECTOR = 'namespace="{{ namespace }}", model_name="{{ name }}", ' + TRACK_LABEL + '="{{ track }}"'

BUILTIN_QUERIES: dict[str, dict[str, str]] = {
    "onnxruntime": {
        "error-rate": (
            "(sum(rate(glidepath_inference_requests_total{" + _SELECTOR + ', code!~"2.."}[{{ interval }}]))'
            " or vector(0)) / sum(rate(glidepath_inference_requests_total{"
            + _SELECTOR
            + "}[{{ interval }}]))"
        ),
        "latency-p99": (
            "histogram_quantile(0.99, sum by (le) (rate(glidepath_inference_request_duration_seconds_bucket{"
            + _SELECTOR
            + "}[{{ interval }}])))"
        ),
    },
    # TF Serving's own metrics: request_count by status ("OK" or an error code), request_latency in
    # microseconds.
    "tfserving": {
        "error-rate": (
            "(sum(rate(:tensorflow:serving:request_count{"
            + _TF_SELECTOR
            + ', status!="OK"}[{{ interval }}]))'
            " or vector(0)) / sum(rate(:tensorflow:serving:request_count{"
            + _TF_SELECTOR
            + "}[{{ interval }}]))"
        ),
        "latency-p99": (
            "histogram_quantile(0.99, sum by (le) (rate(:tensorflow:serving:request_latency_bucket{"
            + _TF_SELECTOR
            + "}[{{ interval }}]))) / 1e6"
        ),
    },
}
"""Per runtime: error-rate, the fraction of failed inference requests; latency-p99, seconds. Both over
``interval``, for the canary track's pods of the ModelDeployment. No failed request means no failed
series at all, hence ``or vector(0)``: zero errors is a figure; no requests at all stays no data."""

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


class QueryError(ValueError):
    """A metric's query template does not render (unknown variable, syntax error)."""


@dataclass(frozen=True)
class QueryContext:
    """Variables a query template may use."""

    name: str
    namespace: str
    track: str
    interval: str
    runtime: str = "onnxruntime"


def render_query(metric: AnalysisMetric, ctx: QueryContext) -> str:
    """The PromQL for one metric; raises QueryError naming the metric when the template fails."""
    template = metric.query if metric.query is not None else BUILTIN_QUERIES[ctx.runtime][metric.name]
    try:
        return _ENV.from_string(template).render(
            name=ctx.name, namespace=ctx.namespace, track=ctx.track, interval=ctx.interval
        )
    except jinja2.TemplateError as exc:
        raise QueryError(f"metric {metric.name}: query template: {exc}") from exc


def judge(metric: AnalysisMetric, value: float | None, error: str | None = None) -> MetricResult:
    """Compare a figure with the metric's thresholds. None or NaN is Inconclusive, never a pass."""
    if error is not None:
        return MetricResult(name=metric.name, phase="Inconclusive", message=error)
    if value is None or math.isnan(value):
        return MetricResult(name=metric.name, phase="Inconclusive", message="no data")
    bounds = []
    failed = False
    if metric.min is not None:
        bounds.append(f"min {metric.min:g}")
        failed |= value < metric.min
    if metric.max is not None:
        bounds.append(f"max {metric.max:g}")
        failed |= value > metric.max
    verdict = "outside" if failed else "within"
    return MetricResult(
        name=metric.name,
        phase="Failed" if failed else "Successful",
        value=value,
        message=f"{metric.name} {value:.4g} {verdict} {', '.join(bounds)}",
    )
