"""The pod template and the per-track Deployment running the runtime with its model fetcher."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from glidepath import naming
from glidepath.api import PodSource
from glidepath.plan import TrackPlan
from glidepath.render.context import Manifest, Owner, RenderConfig, object_meta
from glidepath.render.runtimes import (
    TFSERVING_CONFIG_DIR,
    TFSERVING_CONFIG_VOLUME,
    RuntimeProfile,
    profile_of,
    serve_command,
    tfserving_command,
    tfserving_files,
)

RUNTIME_UID = 65532
PVC_ROOT = "/mnt/pvc"
"""Where a pvc:// model's claim is mounted read-only, in the fetcher and the runtime: /mnt/pvc/<claim>.
The fetcher verifies the model there and links it into the model directory; nothing is copied."""


def restricted_security_context() -> dict[str, Any]:
    """Container securityContext at the restricted Pod Security level, read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _runtime_resources(source: PodSource, config: RenderConfig) -> dict[str, Any]:
    res = source.runtime.resources
    if res is None or (res.requests is None and res.limits is None):
        return {"requests": dict(config.default_requests), "limits": dict(config.default_limits)}
    out: dict[str, Any] = {}
    if res.requests is not None:
        out["requests"] = {k: str(v) for k, v in res.requests.items()}
    if res.limits is not None:
        out["limits"] = {k: str(v) for k, v in res.limits.items()}
    return out


def pvc_claim(uri: str) -> str | None:
    """The claim name of a ``pvc://claim/path`` URI, else None."""
    if not uri.startswith("pvc://"):
        return None
    return uri[len("pvc://") :].split("/", 1)[0]


def fetch_command(source: PodSource) -> list[str]:
    """argv of the fetcher init container:
    ``glidepath-runtime fetch URI /mnt/models [--sha256 HEX] [--format tensorflow --version V]``."""
    argv = ["glidepath-runtime", "fetch", source.model.uri, naming.MODEL_DIR]
    if source.model.sha256 is not None:
        argv += ["--sha256", source.model.sha256]
    if source.model.format == "tensorflow":
        argv += ["--format", "tensorflow", "--version", source.model.version]
    return argv


def _http_probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": naming.HTTP_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _ports(profile: RuntimeProfile) -> list[dict[str, Any]]:
    ports = [{"name": naming.HTTP_PORT_NAME, "containerPort": profile.http_port, "protocol": "TCP"}]
    if profile.grpc_port is not None:
        ports.append({"name": naming.GRPC_PORT_NAME, "containerPort": profile.grpc_port, "protocol": "TCP"})
    return ports


def tfserving_config_map_name(owner: Owner, track: naming.Track) -> str:
    """Name of the ConfigMap with a track's TF Serving config files."""
    return f"{naming.deployment_name(owner.name, track)}-tfserving"


def render_pod_spec(
    owner: Owner, source: PodSource, config: RenderConfig, track: naming.Track = "stable"
) -> dict[str, Any]:
    """The pod spec: a fetcher init container and the runtime, at the restricted Pod Security level."""
    profile = profile_of(source)
    model_mount = {"name": naming.MODEL_VOLUME, "mountPath": naming.MODEL_DIR}
    tmp_mount = {"name": naming.TMP_VOLUME, "mountPath": "/tmp"}
    volumes: list[dict[str, Any]] = [
        {"name": naming.MODEL_VOLUME, "emptyDir": {}},
        {"name": naming.TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    fetch_mounts: list[dict[str, Any]] = [dict(model_mount), dict(tmp_mount)]
    runtime_mounts = [{**model_mount, "readOnly": True}, dict(tmp_mount)]
    claim = pvc_claim(source.model.uri)
    if claim is not None:
        volumes.append({"name": "model-pvc", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
        pvc_mount = {"name": "model-pvc", "mountPath": f"{PVC_ROOT}/{claim}", "readOnly": True}
        fetch_mounts.append(dict(pvc_mount))
        runtime_mounts.append(dict(pvc_mount))
    fetch: dict[str, Any] = {
        "name": naming.FETCH_CONTAINER,
        "image": config.runtime_image,
        "imagePullPolicy": "IfNotPresent",
        "command": fetch_command(source),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": fetch_mounts,
    }
    if source.model.secret_ref is not None:
        fetch["envFrom"] = [{"secretRef": {"name": source.model.secret_ref.name}}]
    if profile.name == "tfserving":
        image = source.runtime.image or config.tfserving_image
        command = tfserving_command(source)
        runtime_mounts.append(
            {"name": TFSERVING_CONFIG_VOLUME, "mountPath": TFSERVING_CONFIG_DIR, "readOnly": True}
        )
        volumes.append(
            {"name": TFSERVING_CONFIG_VOLUME, "configMap": {"name": tfserving_config_map_name(owner, track)}}
        )
    else:
        image = source.runtime.image or config.runtime_image
        command = serve_command(owner.name, source)
    runtime: dict[str, Any] = {
        "name": naming.RUNTIME_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "ports": _ports(profile),
        "resources": _runtime_resources(source, config),
        "startupProbe": _http_probe(profile.liveness_path(owner.name), period=2, failures=90),
        "livenessProbe": _http_probe(profile.liveness_path(owner.name), period=10, failures=3),
        "readinessProbe": _http_probe(
            profile.readiness_path(owner.name, source.model.version), period=5, failures=2
        ),
        "securityContext": restricted_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": runtime_mounts,
    }
    if source.runtime.env:
        runtime["env"] = [e.to_wire() for e in source.runtime.env]
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "initContainers": [fetch],
        "containers": [runtime],
        "volumes": volumes,
    }


def revision_for(owner: Owner, source: PodSource, config: RenderConfig) -> str:
    """Revision of the pod template a source renders to (see :func:`revision_of`)."""
    files = tfserving_files(owner.name, source) if source.runtime.name == "tfserving" else {}
    return revision_of(render_pod_spec(owner, source, config), source.model.version, files)


def revision_of(pod_spec: dict[str, Any], model_version: str, files: dict[str, str] | None = None) -> str:
    """Revision of a pod spec: the first 10 hex digits of the SHA-256 of its canonical JSON, with the
    model version and the content of the config files it mounts.

    Any change to the model, runtime or pod settings changes the revision; the track does not take
    part, so stable and canary running the same source share a revision.
    """
    doc = {"pod": pod_spec, "version": model_version}
    if files:
        doc["files"] = files
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def render_track(owner: Owner, track: naming.Track, plan: TrackPlan, config: RenderConfig) -> list[Manifest]:
    """The Deployment of one track, running ``plan.source`` at ``plan.replicas``, preceded by the
    ConfigMap of its TF Serving config files when the runtime is tfserving.

    ``plan.replicas`` None (an HPA scales this Deployment) omits ``spec.replicas``, so the HPA alone
    owns that field under server-side apply. Rolling updates never take a ready pod away before its
    replacement is ready (maxUnavailable 0).
    """
    manifests: list[Manifest] = []
    if plan.source.runtime.name == "tfserving":
        meta = object_meta(owner, tfserving_config_map_name(owner, track), track)
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta,
                "data": tfserving_files(owner.name, plan.source),
            }
        )
    pod_spec = render_pod_spec(owner, plan.source, config, track)
    version = plan.source.model.version
    pod_labels = {**naming.child_labels(owner.name, track), naming.LABEL_REVISION: plan.revision}
    annotations = {naming.ANNOTATION_REVISION: plan.revision, naming.ANNOTATION_MODEL_VERSION: version}
    deployment_spec: dict[str, Any] = {
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": naming.selector_labels(owner.name, track)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        "template": {"metadata": {"labels": pod_labels, "annotations": dict(annotations)}, "spec": pod_spec},
    }
    if plan.replicas is not None:
        deployment_spec = {"replicas": plan.replicas, **deployment_spec}
    manifests.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": object_meta(owner, naming.deployment_name(owner.name, track), track, annotations),
            "spec": deployment_spec,
        }
    )
    return manifests
