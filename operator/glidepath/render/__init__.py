"""PURE renderers: (spec, owner, config) -> manifest dicts. No I/O, no clock, no randomness."""

from __future__ import annotations

from dataclasses import dataclass

from glidepath.api import ModelDeploymentSpec
from glidepath.render.autoscaling import render_hpa
from glidepath.render.context import DEFAULT_RUNTIME_IMAGE, Manifest, Owner, RenderConfig
from glidepath.render.monitoring import SERVICE_MONITOR_API_VERSION, render_service_monitor
from glidepath.render.network import render_service
from glidepath.render.workload import (
    fetch_command,
    render_deployment,
    render_pod_spec,
    revision_of,
    serve_command,
)

__all__ = [
    "DEFAULT_RUNTIME_IMAGE",
    "SERVICE_MONITOR_API_VERSION",
    "Manifest",
    "Owner",
    "RenderConfig",
    "Rendered",
    "fetch_command",
    "render",
    "serve_command",
]


@dataclass(frozen=True)
class Rendered:
    """What one ModelDeployment should be made of.

    manifests: children in apply order (Deployments first, then Service, HPA, ServiceMonitor).
    revision: the revision of the desired pod template (see :func:`revision_of`).
    service_monitor_skipped: True when monitoring asks for a ServiceMonitor but its CRD is absent.
    """

    manifests: list[Manifest]
    revision: str
    service_monitor_skipped: bool


def render(owner: Owner, spec: ModelDeploymentSpec, config: RenderConfig) -> Rendered:
    """Render every child of a ModelDeployment whose whole traffic goes to the stable track."""
    pod_spec = render_pod_spec(owner, spec, config)
    revision = revision_of(pod_spec, spec.model.version)
    manifests = [
        render_deployment(owner, "stable", pod_spec, revision, spec.model.version, spec.fixed_replicas),
        render_service(owner),
    ]
    if spec.autoscaling is not None:
        manifests.append(render_hpa(owner, spec.autoscaling))
    monitor = spec.monitoring.service_monitor
    skipped = monitor.enabled and not config.service_monitor_supported
    if monitor.enabled and config.service_monitor_supported:
        manifests.append(render_service_monitor(owner, monitor))
    return Rendered(manifests=manifests, revision=revision, service_monitor_skipped=skipped)
