"""The pod template and the per-track Deployment running the runtime with its model fetcher."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from glidepath import naming
from glidepath.api import PodSource
from glidepath.plan import TrackPlan
from glidepath.render.context import Manifest, Owner, RenderConfig, object_meta


def restricted_security_context() -> dict[str, Any]:
    """Container securityContext at the restricted Pod Security level, read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


RUNTIME_UID = 65532


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


def fetch_command(source: PodSource) -> list[str]:
    """argv of the fetcher init container: ``glidepath-runtime fetch URI /mnt/models [--sha256 HEX]``."""
    argv = ["glidepath-runtime", "fetch", source.model.uri, naming.MODEL_DIR]
    if source.model.sha256 is not None:
        argv += ["--sha256", source.model.sha256]
    return argv


def serve_command(name: str, source: PodSource) -> list[str]:
    """argv of the runtime container (``glidepath-runtime serve``); the model is named after the ModelDeployment."""
    return [
        "glidepath-runtime",
        "serve",
        "--model-name",
        name,
        "--model-dir",
        naming.MODEL_DIR,
        "--model-version",
        source.model.version,
        "--http-port",
        str(naming.HTTP_PORT),
    ]


def _http_probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": naming.HTTP_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def render_pod_spec(owner: Owner, source: PodSource, config: RenderConfig) -> dict[str, Any]:
    """The pod spec: a fetcher init container and the runtime, at the restricted Pod Security level."""
    image = source.runtime.image or config.runtime_image
    model_mount = {"name": naming.MODEL_VOLUME, "mountPath": naming.MODEL_DIR}
    tmp_mount = {"name": naming.TMP_VOLUME, "mountPath": "/tmp"}
    fetch = {
        "name": naming.FETCH_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": fetch_command(source),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [dict(model_mount), dict(tmp_mount)],
    }
    runtime: dict[str, Any] = {
        "name": naming.RUNTIME_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": serve_command(owner.name, source),
        "ports": [{"name": naming.HTTP_PORT_NAME, "containerPort": naming.HTTP_PORT, "protocol": "TCP"}],
        "resources": _runtime_resources(source, config),
        "startupProbe": _http_probe("/v2/health/live", period=2, failures=90),
        "livenessProbe": _http_probe("/v2/health/live", period=10, failures=3),
        "readinessProbe": _http_probe(f"/v2/models/{owner.name}/ready", period=5, failures=2),
        "securityContext": restricted_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{**model_mount, "readOnly": True}, dict(tmp_mount)],
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
        "volumes": [
            {"name": naming.MODEL_VOLUME, "emptyDir": {}},
            {"name": naming.TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        ],
    }


def revision_for(owner: Owner, source: PodSource, config: RenderConfig) -> str:
    """Revision of the pod template a source renders to (see :func:`revision_of`)."""
    return revision_of(render_pod_spec(owner, source, config), source.model.version)


def revision_of(pod_spec: dict[str, Any], model_version: str) -> str:
    """Revision of a pod spec: the first 10 hex digits of the SHA-256 of its canonical JSON.

    Any change to the model, runtime or pod settings changes the revision; the track label does not
    take part, so stable and canary running the same template share a revision.
    """
    canonical = json.dumps({"pod": pod_spec, "version": model_version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def render_deployment(owner: Owner, track: naming.Track, plan: TrackPlan, config: RenderConfig) -> Manifest:
    """The Deployment of one track, running ``plan.source`` at ``plan.replicas``.

    ``plan.replicas`` None (an HPA scales this Deployment) omits ``spec.replicas``, so the HPA alone
    owns that field under server-side apply. Rolling updates never take a ready pod away before its
    replacement is ready (maxUnavailable 0).
    """
    pod_spec = render_pod_spec(owner, plan.source, config)
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
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(owner, naming.deployment_name(owner.name, track), track, annotations),
        "spec": deployment_spec,
    }
