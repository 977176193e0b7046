"""The only layer that imports ``kubernetes``: the client, server-side apply, prune, observe."""

from glidepath.k8s.children import (
    ChildKey,
    apply_all,
    child_key,
    get_model_deployment,
    observe,
    prune,
    record_event,
    write_status,
)
from glidepath.k8s.client import (
    CHILD_TYPES,
    CLUSTER_KOPF_PEERING,
    HTTP_ROUTE,
    KOPF_PEERING,
    MODEL_DEPLOYMENT,
    SERVICE_MONITOR,
    Kube,
    KubeError,
    ResourceType,
    connect,
    current_namespace,
)

__all__ = [
    "CHILD_TYPES",
    "CLUSTER_KOPF_PEERING",
    "HTTP_ROUTE",
    "KOPF_PEERING",
    "MODEL_DEPLOYMENT",
    "SERVICE_MONITOR",
    "ChildKey",
    "Kube",
    "KubeError",
    "ResourceType",
    "apply_all",
    "child_key",
    "connect",
    "current_namespace",
    "get_model_deployment",
    "observe",
    "prune",
    "record_event",
    "write_status",
]
