"""The Service that routes to every ready pod of the ModelDeployment."""

from __future__ import annotations

from glidepath import naming
from glidepath.render.context import Manifest, Owner, object_meta


def render_service(owner: Owner) -> Manifest:
    """ClusterIP Service on port 8080 (``http``) selecting the pods of every track.

    With traffic mode ``replicas`` the share of requests a track gets follows its share of ready pods.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(owner, naming.service_name(owner.name), naming.TRACK_SHARED),
        "spec": {
            "type": "ClusterIP",
            "selector": naming.selector_labels(owner.name),
            "ports": [
                {
                    "name": naming.HTTP_PORT_NAME,
                    "port": naming.HTTP_PORT,
                    "targetPort": naming.HTTP_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }
