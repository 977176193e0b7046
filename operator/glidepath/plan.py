"""What the rollout decided the cluster should run: the shared vocabulary of rollout/ and render/."""

from __future__ import annotations

from dataclasses import dataclass

from glidepath.api import PodSource


@dataclass(frozen=True)
class TrackPlan:
    """One track's Deployment.

    source: the model and runtime it runs; revision: the hash of the pod template they render to.
    replicas: pods to run, or None when an HPA owns the count (stable track with autoscaling).
    """

    source: PodSource
    revision: str
    replicas: int | None


@dataclass(frozen=True)
class Plan:
    """Both tracks and the traffic split.

    canary: None when no rollout is in progress (the canary Deployment is pruned); a canary with
    replicas 0 is a rolled-back one kept for inspection.
    canary_weight: percent of traffic the HTTPRoute sends to the canary (mode gatewayAPI), 0-100.
    """

    stable: TrackPlan
    canary: TrackPlan | None = None
    canary_weight: int = 0


@dataclass(frozen=True)
class Revision:
    """A pod source and the revision it renders to."""

    source: PodSource
    revision: str
