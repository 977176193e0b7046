"""The Prometheus-operator ServiceMonitor (monitoring.coreos.com/v1) for the runtime's /metrics."""

from __future__ import annotations

import re
from typing import Any, Final

from glidepath import naming
from glidepath.api import ServiceMonitorSpec
from glidepath.render.context import Manifest, Owner, object_meta
from glidepath.render.runtimes import RuntimeProfile

SERVICE_MONITOR_API_VERSION = "monitoring.coreos.com/v1"


def render_service_monitor(
    owner: Owner,
    monitor: ServiceMonitorSpec,
    profile: RuntimeProfile,
    canary_profile: RuntimeProfile | None = None,
) -> Manifest:
    """ServiceMonitor scraping the runtime's metrics path (``/metrics``; TF Serving's
    ``/monitoring/prometheus/metrics``) on the shared Service's ``http`` port.

    ``profile`` is the stable track's runtime, ``canary_profile`` the canary's (None without a canary).
    When the two runtimes have different metrics paths, there is one endpoint per track, each keeping
    only its own track's pods (a ``keep`` relabeling on the pod's track label), so every pod is scraped
    at its own runtime's path. Each scraped series carries the pod's track and revision labels
    (``podTargetLabels``), which is how canary analysis tells the tracks apart.
    """
    meta = object_meta(owner, naming.service_monitor_name(owner.name), naming.TRACK_SHARED)
    meta["labels"] = {**monitor.labels, **meta["labels"]}
    return {
        "apiVersion": SERVICE_MONITOR_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": meta,
        "spec": {
            "selector": {
                "matchLabels": {
                    **naming.selector_labels(owner.name),
                    naming.LABEL_TRACK: naming.TRACK_SHARED,
                }
            },
            "endpoints": _endpoints(monitor, profile, canary_profile),
            "podTargetLabels": [naming.LABEL_TRACK, naming.LABEL_REVISION],
        },
    }


#: The Kubernetes service discovery meta label of the pod's track label (non-word characters become _).
TRACK_META_LABEL: Final = "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", naming.LABEL_TRACK)


def _endpoints(
    monitor: ServiceMonitorSpec, profile: RuntimeProfile, canary_profile: RuntimeProfile | None
) -> list[dict[str, Any]]:
    if canary_profile is None or canary_profile.metrics_path == profile.metrics_path:
        return [{"port": naming.HTTP_PORT_NAME, "path": profile.metrics_path, "interval": monitor.interval}]
    return [
        {
            "port": naming.HTTP_PORT_NAME,
            "path": track_profile.metrics_path,
            "interval": monitor.interval,
            "relabelings": [{"sourceLabels": [TRACK_META_LABEL], "regex": track, "action": "keep"}],
        }
        for track, track_profile in (("stable", profile), ("canary", canary_profile))
    ]
