"""PURE replica and weight math for a canary step (KServe's lesson, kserve #5983: never route to pods
that are not ready, never shrink stable first)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """Replicas per track and the HTTPRoute weight for one step.

    stable_replicas: None when an HPA owns the stable count. canary_weight: route weight, percent.
    """

    stable_replicas: int | None
    canary_replicas: int
    canary_weight: int


def canary_replicas(total: int, weight: int, hpa: bool, max_replicas: int | None = None) -> int:
    """Pods the canary needs for ``weight`` percent of ``total`` serving pods (at least one).

    total: the stable track's fixed replicas, or with an HPA (``hpa``) the stable's current replicas.
    Fixed: ``ceil(total * weight / 100)`` pods of a constant total. With an HPA the stable track keeps
    its pods, so the canary is sized against them: ``ceil(total * weight / (100 - weight))``, capped
    at ``max_replicas``.
    """
    if total <= 0:
        return 0
    if not hpa:
        return max(1, math.ceil(total * weight / 100))
    wanted = total * 2 if weight >= 100 else math.ceil(total * weight / (100 - weight))
    wanted = max(1, wanted)
    return min(wanted, max_replicas) if max_replicas is not None else wanted


def split(
    mode: str, total: int, fixed: bool, weight: int, canary_ready: int, max_replicas: int | None = None
) -> Split:
    """Replicas and route weight for a canary step at ``weight`` percent.

    mode "replicas": one Service selects both tracks, so weight follows ready pods. The stable track
    (fixed replicas) gives up only as many pods as the canary has Ready. With an HPA (``fixed`` False)
    stable is left alone.
    mode "gatewayAPI": the HTTPRoute weights exactly, so stable keeps all its pods; the canary gets its
    weight only once at least one canary pod is Ready.
    """
    canary = canary_replicas(total, weight, hpa=not fixed, max_replicas=max_replicas)
    if mode == "gatewayAPI":
        return Split(total if fixed else None, canary, weight if canary_ready > 0 else 0)
    if not fixed:
        return Split(None, canary, 0)
    return Split(total - min(canary, canary_ready), canary, 0)


def effective_weight(mode: str, stable_ready: int, canary_ready: int, route_weight: int) -> int:
    """Percent of traffic the canary really gets: the route weight (gatewayAPI), or its share of
    ready pods behind the shared Service (replicas)."""
    if mode == "gatewayAPI":
        return route_weight if canary_ready > 0 else 0
    serving = stable_ready + canary_ready
    return round(100 * canary_ready / serving) if serving else 0
