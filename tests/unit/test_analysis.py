"""Analysis queries rendered from strict templates, figures judged against thresholds."""

from __future__ import annotations

import math

import pytest
from glidepath.api import AnalysisMetric
from glidepath.rollout import QueryContext, QueryError, judge, render_query

CTX = QueryContext(name="fraud", namespace="ml", track="canary", interval="1m")


def test_builtin_error_rate_counts_every_non_2xx_of_the_canary() -> None:
    q = render_query(AnalysisMetric(name="error-rate", max=0.01), CTX)
    assert q == (
        '(sum(rate(glidepath_inference_requests_total{namespace="ml", model="fraud", '
        'serving_glidepath_io_track="canary", code!~"2.."}[1m])) or vector(0)) / '
        'sum(rate(glidepath_inference_requests_total{namespace="ml", model="fraud", '
        'serving_glidepath_io_track="canary"}[1m]))'
    )


def test_builtin_latency_p99() -> None:
    q = render_query(AnalysisMetric(name="latency-p99", max=0.25), CTX)
    assert q.startswith(
        "histogram_quantile(0.99, sum by (le) (rate(glidepath_inference_request_duration_seconds_bucket{"
    )
    assert "[1m]" in q


def test_custom_query_template() -> None:
    metric = AnalysisMetric(
        name="qps", min=1, query='sum(rate(x{ns="{{ namespace }}",t="{{ track }}"}[{{ interval }}]))'
    )
    assert render_query(metric, CTX) == 'sum(rate(x{ns="ml",t="canary"}[1m]))'


def test_unknown_template_variable_is_an_error_not_an_empty_string() -> None:
    metric = AnalysisMetric(name="typo", max=1, query="sum(x{pod='{{ pod }}'})")
    with pytest.raises(QueryError, match="metric typo: query template: 'pod' is undefined"):
        render_query(metric, CTX)


@pytest.mark.parametrize(
    ("low", "high", "value", "phase"),
    [
        (None, 0.01, 0.0, "Successful"),
        (None, 0.01, 0.02, "Failed"),
        (10.0, None, 5.0, "Failed"),
        (10.0, 20.0, 15.0, "Successful"),
        (10.0, 20.0, 25.0, "Failed"),
        (None, 0.01, None, "Inconclusive"),
        (None, 0.01, math.nan, "Inconclusive"),
        (None, 0.01, math.inf, "Failed"),
    ],
)
def test_judge(low: float | None, high: float | None, value: float | None, phase: str) -> None:
    result = judge(AnalysisMetric(name="error-rate", min=low, max=high), value)
    assert result.phase == phase
    if phase == "Failed":
        assert "outside" in result.message


def test_query_errors_are_inconclusive() -> None:
    result = judge(AnalysisMetric(name="error-rate", max=0.01), None, "prometheus unreachable")
    assert (result.phase, result.message) == ("Inconclusive", "prometheus unreachable")


def test_tfserving_queries_read_its_own_metrics() -> None:
    ctx = QueryContext(name="fraud", namespace="ml", track="canary", interval="1m", runtime="tfserving")
    errors = render_query(AnalysisMetric(name="error-rate", max=0.01), ctx)
    assert ':tensorflow:serving:request_count{namespace="ml", model_name="fraud"' in errors
    assert 'status!="OK"' in errors
    latency = render_query(AnalysisMetric(name="latency-p99", max=0.25), ctx)
    assert ":tensorflow:serving:request_latency_bucket" in latency
    assert latency.endswith("/ 1e6")  # microseconds to seconds
