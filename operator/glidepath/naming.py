"""Every child name, label, annotation and selector in one place.

Pure constants and string functions; imported by every other layer and importing none of them.
"""

from __future__ import annotations

from typing import Final, Literal

GROUP: Final = "serving.glidepath.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ModelDeployment"
PLURAL: Final = "modeldeployments"
SINGULAR: Final = "modeldeployment"
SHORT_NAMES: Final = ("md", "mdep")
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

FIELD_MANAGER: Final = "glidepath"
"""The one server-side apply field manager the operator writes with."""

MANAGED_BY: Final = "glidepath"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_TRACK: Final = f"{GROUP}/track"
LABEL_REVISION: Final = f"{GROUP}/revision"

ANNOTATION_REVISION: Final = f"{GROUP}/revision"
ANNOTATION_MODEL_VERSION: Final = f"{GROUP}/model-version"
ANNOTATION_PROMOTE: Final = f"{GROUP}/promote"
"""Request annotations on a ModelDeployment, written by ``glidepath promote|abort|retry``: the value is
a request id; the operator acts once per new id and records it in ``status.handledRequests``."""
ANNOTATION_PROMOTE_FULL: Final = f"{GROUP}/promote-full"
ANNOTATION_ABORT: Final = f"{GROUP}/abort"
ANNOTATION_RETRY: Final = f"{GROUP}/retry"
REQUEST_ANNOTATIONS: Final = {
    "promote": ANNOTATION_PROMOTE,
    "promoteFull": ANNOTATION_PROMOTE_FULL,
    "abort": ANNOTATION_ABORT,
    "retry": ANNOTATION_RETRY,
}

Track = Literal["stable", "canary"]
TRACKS: Final[tuple[Track, ...]] = ("stable", "canary")
TRACK_SHARED: Final = "shared"
"""Track label value of children that serve every track (Service, ServiceMonitor)."""

COMPONENT: Final = "model-server"

# The runtime's contract (runtime-images/onnxruntime): port, paths, volumes.
HTTP_PORT: Final = 8080
HTTP_PORT_NAME: Final = "http"
GRPC_PORT: Final = 9000
GRPC_PORT_NAME: Final = "grpc"
MODEL_DIR: Final = "/mnt/models"
MODEL_VOLUME: Final = "model"
TMP_VOLUME: Final = "tmp"
RUNTIME_CONTAINER: Final = "runtime"
FETCH_CONTAINER: Final = "fetch-model"
TERMINATION_LOG: Final = "/dev/termination-log"


def deployment_name(name: str, track: Track) -> str:
    """Name of the Deployment of one track: ``<name>-<track>``."""
    return f"{name}-{track}"


def service_name(name: str) -> str:
    """Name of the Service that selects every ready pod of the ModelDeployment."""
    return name


def track_service_name(name: str, track: Track) -> str:
    """Name of the per-track Service an HTTPRoute weights (traffic mode gatewayAPI)."""
    return f"{name}-{track}"


def http_route_name(name: str) -> str:
    """Name of the Gateway API HTTPRoute (traffic mode gatewayAPI)."""
    return name


def hpa_name(name: str) -> str:
    """Name of the HorizontalPodAutoscaler that scales the stable track."""
    return name


def service_monitor_name(name: str) -> str:
    """Name of the Prometheus-operator ServiceMonitor."""
    return name


def instance_labels(name: str) -> dict[str, str]:
    """Labels shared by every child of ModelDeployment ``name``; the prune selector."""
    return {
        LABEL_NAME: name,
        LABEL_INSTANCE: name,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def child_labels(name: str, track: str) -> dict[str, str]:
    """Labels of one child: instance labels, the component and the track (stable, canary, shared)."""
    return {**instance_labels(name), LABEL_COMPONENT: COMPONENT, LABEL_TRACK: track}


def selector_labels(name: str, track: Track | None = None) -> dict[str, str]:
    """Pod selector: every pod of the instance, or of one track. Immutable once applied."""
    sel = {LABEL_INSTANCE: name, LABEL_MANAGED_BY: MANAGED_BY}
    if track is not None:
        sel[LABEL_TRACK] = track
    return sel


def label_selector(labels: dict[str, str]) -> str:
    """Render labels as a Kubernetes label-selector string (``k=v,k2=v2``), sorted by key."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def service_url(name: str, namespace: str, cluster_domain: str = "cluster.local") -> str:
    """In-cluster URL of the ModelDeployment's Service."""
    return f"http://{service_name(name)}.{namespace}.svc.{cluster_domain}:{HTTP_PORT}"
