"""The HorizontalPodAutoscaler (autoscaling/v2) that scales the stable track."""

from __future__ import annotations

from typing import Any

from glidepath import naming
from glidepath.api import AutoscalingSpec
from glidepath.render.context import Manifest, Owner, object_meta

DEFAULT_METRICS: list[dict[str, Any]] = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
]


def render_hpa(owner: Owner, autoscaling: AutoscalingSpec) -> Manifest:
    """HPA targeting ``<name>-stable`` with the spec's bounds and metrics (default: CPU at 80%)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(owner, naming.hpa_name(owner.name), "stable"),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": naming.deployment_name(owner.name, "stable"),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": autoscaling.metrics or DEFAULT_METRICS,
        },
    }
