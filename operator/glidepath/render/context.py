"""Inputs every renderer shares: who owns the children, and how the operator is configured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glidepath import naming

Manifest = dict[str, Any]
"""One Kubernetes object as a JSON-ready dict (apiVersion, kind, metadata, spec)."""

DEFAULT_RUNTIME_IMAGE = "ghcr.io/glidepath/runtime-onnxruntime:0.1.0"
DEFAULT_TFSERVING_IMAGE = "ghcr.io/glidepath/runtime-tfserving:2.19.0"


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment whose children are rendered (for names, namespace and ownerReferences)."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """The ownerReference every child carries: controller, blocks owner deletion until GC."""
        return {
            "apiVersion": naming.API_VERSION,
            "kind": naming.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class RenderConfig:
    """Operator-wide settings that shape the children (from the operator's flags or environment).

    runtime_image: image of the ONNX Runtime server and the model fetcher (every runtime's init
        container), unless spec overrides the server's.
    tfserving_image: image of TF Serving (runtime-images/tfserving), unless spec overrides it.
    cluster_domain: DNS suffix for ``status.url``.
    service_monitor_supported: whether the monitoring.coreos.com/v1 ServiceMonitor CRD is installed.
    http_route_supported: whether the gateway.networking.k8s.io/v1 HTTPRoute CRD is installed.
    default_requests / default_limits: runtime container resources when the spec sets none.
    """

    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    tfserving_image: str = DEFAULT_TFSERVING_IMAGE
    cluster_domain: str = "cluster.local"
    service_monitor_supported: bool = False
    http_route_supported: bool = False
    default_requests: dict[str, str] = field(default_factory=lambda: {"cpu": "250m", "memory": "256Mi"})
    default_limits: dict[str, str] = field(default_factory=lambda: {"memory": "1Gi"})


def object_meta(
    owner: Owner, name: str, track: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """metadata of a child: name, namespace, the standard labels, the ownerReference."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": naming.child_labels(owner.name, track),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta
