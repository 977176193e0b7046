"""The Service that routes to every ready pod of the ModelDeployment."""

from __future__ import annotations

from typing import Any

from glidepath import naming
from glidepath.api import TrafficSpec
from glidepath.render.context import Manifest, Owner, object_meta


def render_service(owner: Owner, track: naming.Track | None = None) -> Manifest:
    """ClusterIP Service on port 8080 (``http``): ``<name>`` selecting the pods of every track, or with
    ``track`` the per-track ``<name>-<track>`` that an HTTPRoute weights.

    Ports: ``http`` 8080 and ``grpc`` 9000, to the pods' ports of those names whatever the runtime
    (TF Serving's 8501 and 8500). Through the shared Service the share of requests a track gets
    follows its share of ready pods.
    """
    name = naming.service_name(owner.name) if track is None else naming.track_service_name(owner.name, track)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(owner, name, track or naming.TRACK_SHARED),
        "spec": {
            "type": "ClusterIP",
            "selector": naming.selector_labels(owner.name, track),
            "ports": [
                {
                    "name": naming.HTTP_PORT_NAME,
                    "port": naming.HTTP_PORT,
                    "targetPort": naming.HTTP_PORT_NAME,
                    "protocol": "TCP",
                },
                {
                    "name": naming.GRPC_PORT_NAME,
                    "port": naming.GRPC_PORT,
                    "targetPort": naming.GRPC_PORT_NAME,
                    "protocol": "TCP",
                },
            ],
        },
    }


HTTP_ROUTE_API_VERSION = "gateway.networking.k8s.io/v1"


def render_http_route(owner: Owner, traffic: TrafficSpec, canary_weight: int, with_canary: bool) -> Manifest:
    """HTTPRoute ``<name>`` splitting traffic between the per-track Services by weight (percent, 0-100).

    Without a canary all traffic goes to ``<name>-stable``. Per the Gateway API, a weight of 0 sends
    that backend nothing.
    """
    backends: list[dict[str, Any]] = [
        {
            "name": naming.track_service_name(owner.name, "stable"),
            "port": naming.HTTP_PORT,
            "weight": 100 - canary_weight,
        }
    ]
    if with_canary:
        backends.append(
            {
                "name": naming.track_service_name(owner.name, "canary"),
                "port": naming.HTTP_PORT,
                "weight": canary_weight,
            }
        )
    spec: dict[str, Any] = {
        "parentRefs": [dict(ref) for ref in traffic.parent_refs],
        "rules": [{"backendRefs": backends}],
    }
    if traffic.hostnames:
        spec["hostnames"] = list(traffic.hostnames)
    return {
        "apiVersion": HTTP_ROUTE_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": object_meta(owner, naming.http_route_name(owner.name), naming.TRACK_SHARED),
        "spec": spec,
    }
