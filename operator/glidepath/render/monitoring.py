"""The Prometheus-operator ServiceMonitor (monitoring.coreos.com/v1) for the runtime's /metrics."""

from __future__ import annotations

from glidepath import naming
from glidepath.api import ServiceMonitorSpec
from glidepath.render.context import Manifest, Owner, object_meta
from glidepath.render.runtimes import RuntimeProfile

SERVICE_MONITOR_API_VERSION = "monitoring.coreos.com/v1"


def render_service_monitor(owner: Owner, monitor: ServiceMonitorSpec, profile: RuntimeProfile) -> Manifest:
    """ServiceMonitor scraping the runtime's metrics path (``/metrics``; TF Serving's
    ``/monitoring/prometheus/metrics``) on the shared Service's ``http`` port.

    Each scraped series carries the pod's track and revision labels (``podTargetLabels``), which is
    how canary analysis tells the tracks apart.
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
            "endpoints": [
                {"port": naming.HTTP_PORT_NAME, "path": profile.metrics_path, "interval": monitor.interval}
            ],
            "podTargetLabels": [naming.LABEL_TRACK, naming.LABEL_REVISION],
        },
    }
