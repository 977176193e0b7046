"""PURE renderers: (owner, spec, plan, config) -> manifest dicts. No I/O, no clock, no randomness."""

from __future__ import annotations

from glidepath.api import ModelDeploymentSpec
from glidepath.plan import Plan
from glidepath.render.autoscaling import render_hpa
from glidepath.render.context import DEFAULT_RUNTIME_IMAGE, Manifest, Owner, RenderConfig
from glidepath.render.monitoring import SERVICE_MONITOR_API_VERSION, render_service_monitor
from glidepath.render.network import HTTP_ROUTE_API_VERSION, render_http_route, render_service
from glidepath.render.runtimes import PROFILES, RuntimeProfile, profile_of, serve_command, tfserving_files
from glidepath.render.workload import fetch_command, render_track, revision_for

__all__ = [
    "DEFAULT_RUNTIME_IMAGE",
    "HTTP_ROUTE_API_VERSION",
    "PROFILES",
    "SERVICE_MONITOR_API_VERSION",
    "Manifest",
    "Owner",
    "RenderConfig",
    "RuntimeProfile",
    "fetch_command",
    "profile_of",
    "render",
    "revision_for",
    "serve_command",
    "tfserving_files",
]


def render(owner: Owner, spec: ModelDeploymentSpec, plan: Plan, config: RenderConfig) -> list[Manifest]:
    """Every child of a ModelDeployment, in apply order: per track a TF Serving ConfigMap (runtime
    tfserving) and the Deployment (stable, canary), then Services,
    HTTPRoute (traffic mode gatewayAPI, when its CRD is installed), HPA, ServiceMonitor (when wanted and
    its CRD is installed)."""
    manifests = render_track(owner, "stable", plan.stable, config)
    if plan.canary is not None:
        manifests += render_track(owner, "canary", plan.canary, config)
    manifests.append(render_service(owner))
    traffic = spec.rollout.traffic
    if traffic.mode == "gatewayAPI":
        manifests.append(render_service(owner, "stable"))
        if plan.canary is not None:
            manifests.append(render_service(owner, "canary"))
        if config.http_route_supported:
            manifests.append(render_http_route(owner, traffic, plan.canary_weight, plan.canary is not None))
    if spec.autoscaling is not None:
        manifests.append(render_hpa(owner, spec.autoscaling))
    monitor = spec.monitoring.service_monitor
    if monitor.enabled and config.service_monitor_supported:
        canary = profile_of(plan.canary.source) if plan.canary is not None else None
        manifests.append(render_service_monitor(owner, monitor, profile_of(plan.stable.source), canary))
    return manifests
