"""A small client of the Prometheus HTTP API (``/api/v1/query``) for canary analysis."""

from __future__ import annotations

import math

import requests


class PrometheusError(Exception):
    """The query could not be answered: unreachable, an HTTP error, a PromQL error, or not one number."""


class Prometheus:
    """Instant queries against one Prometheus. ``timeout`` in seconds."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies or CA bundles from the environment for in-cluster URLs

    def query(self, promql: str) -> float | None:
        """The value of a query that returns one number: a scalar, or a vector with one sample.

        Returns None for an empty vector (no data). Raises PrometheusError otherwise.
        """
        try:
            resp = self._session.get(
                f"{self.base_url}/api/v1/query", params={"query": promql}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise PrometheusError(f"{self.base_url} unreachable: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise PrometheusError(f"HTTP {resp.status_code}: not JSON") from exc
        if resp.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"HTTP {resp.status_code}: {body.get('errorType', '')} {body.get('error', '')}".strip()
            )
        data = body.get("data") or {}
        result = data.get("result") or []
        if data.get("resultType") == "scalar":
            return _number(result[1])
        if data.get("resultType") != "vector":
            raise PrometheusError(f"expected a vector or scalar, got {data.get('resultType')}")
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(
                f"expected one series, got {len(result)}: aggregate the query (sum, max...)"
            )
        return _number(result[0]["value"][1])

    def close(self) -> None:
        """Release the connection pool."""
        self._session.close()


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value
