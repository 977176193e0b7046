"""The API server itself refuses invalid ModelDeployments, with messages that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from glidepath import naming
from glidepath.k8s import Kube, KubeError
from glidepath.k8s.client import MODEL_DEPLOYMENT

SHA = "0" * 64
MODEL = {"uri": "https://models.example/m.onnx"}


def _md(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": naming.API_VERSION, "kind": naming.KIND, "metadata": {"name": name}, "spec": spec}


INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    ("no-model", {}, ["spec.model", "Required value"]),
    ("bad-scheme", {"model": {"uri": "ftp://x/m.onnx"}}, ["spec.model.uri", "should match"]),
    (
        "inline-credentials",
        {"model": {"uri": "https://user:secret@models.example/m.onnx"}},
        ["spec.model.uri", "must not carry credentials", "secretRef"],
    ),
    ("bad-sha", {"model": {**MODEL, "sha256": "abc"}}, ["spec.model.sha256", "64 lowercase hexadecimal"]),
    (
        "upper-sha",
        {"model": {**MODEL, "sha256": "A" * 64}},
        ["spec.model.sha256", "64 lowercase hexadecimal"],
    ),
    ("neg-replicas", {"model": MODEL, "replicas": -1}, ["spec.replicas", "greater than or equal to 0"]),
    (
        "both-scalers",
        {"model": MODEL, "replicas": 2, "autoscaling": {"maxReplicas": 3}},
        ["spec.replicas", "mutually exclusive"],
    ),
    (
        "min-gt-max",
        {"model": MODEL, "autoscaling": {"minReplicas": 5, "maxReplicas": 2}},
        ["spec.autoscaling.minReplicas", "less than or equal to maxReplicas"],
    ),
    (
        "no-max",
        {"model": MODEL, "autoscaling": {"minReplicas": 1}},
        ["spec.autoscaling.maxReplicas", "Required"],
    ),
    (
        "bad-metric-type",
        {"model": MODEL, "autoscaling": {"maxReplicas": 3, "metrics": [{"type": "Cpu"}]}},
        ["spec.autoscaling.metrics[0].type", "Unsupported value"],
    ),
    (
        "bad-runtime",
        {"model": MODEL, "runtime": {"name": "triton"}},
        ["spec.runtime.name", "Unsupported value"],
    ),
    (
        "bad-quantity",
        {"model": MODEL, "runtime": {"resources": {"limits": {"cpu": "two"}}}},
        ["spec.runtime.resources.limits", "resource quantity"],
    ),
    (
        "env-both",
        {"model": MODEL, "runtime": {"env": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {}}}]}},
        ["spec.runtime.env[0]", "mutually exclusive"],
    ),
    (
        "bad-interval",
        {"model": MODEL, "monitoring": {"serviceMonitor": {"interval": "often"}}},
        ["spec.monitoring.serviceMonitor.interval", "should match"],
    ),
    (
        "env-dup",
        {"model": MODEL, "runtime": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}},
        ["spec.runtime.env[1]", "Duplicate value"],
    ),
    ("bad-version", {"model": {**MODEL, "version": "v 2"}}, ["spec.model.version", "should match"]),
    ("x" * 53, {"model": MODEL}, ["metadata.name", "at most 52 characters"]),
]


@pytest.mark.parametrize(("name", "spec", "expected"), INVALID, ids=[c[0][:20] for c in INVALID])
def test_invalid_model_deployment_is_refused(
    kube: Kube, namespace: str, name: str, spec: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(KubeError) as info:
        kube.create(MODEL_DEPLOYMENT, namespace, _md(name, spec))
    assert info.value.status == 422
    for fragment in expected:
        assert fragment in info.value.message, info.value.message
    assert kube.get(MODEL_DEPLOYMENT, namespace, name) is None


def test_valid_model_deployment_is_accepted_and_defaulted(kube: Kube, namespace: str) -> None:
    created = kube.create(
        MODEL_DEPLOYMENT,
        namespace,
        _md(
            "ok",
            {
                "model": {**MODEL, "sha256": SHA},
                "runtime": {"resources": {"limits": {"cpu": 2, "memory": "1Gi"}}},
            },
        ),
    )
    assert created["spec"]["model"]["version"] == "1"
    assert created["spec"]["runtime"]["name"] == "onnxruntime"
    assert "replicas" not in created["spec"]
