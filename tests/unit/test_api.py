"""Spec parsing and the generated CRD (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from glidepath.api import SpecError, parse_spec
from glidepath.api.crd import build_crd, main, render_yaml

GOOD_SHA = "a" * 64


def test_defaults_fill_in() -> None:
    spec = parse_spec({"model": {"uri": "https://models.example/fraud/model.onnx"}})
    assert spec.model.version == "1"
    assert spec.model.format == "onnx"
    assert spec.runtime.name == "onnxruntime"
    assert spec.fixed_replicas == 1
    assert spec.monitoring.service_monitor.enabled is True
    assert spec.monitoring.service_monitor.interval == "15s"


def test_autoscaling_means_no_fixed_replicas() -> None:
    spec = parse_spec(
        {"model": {"uri": "file:///m.onnx"}, "autoscaling": {"minReplicas": 2, "maxReplicas": 5}}
    )
    assert spec.fixed_replicas is None
    assert spec.autoscaling is not None
    assert (spec.autoscaling.min_replicas, spec.autoscaling.max_replicas) == (2, 5)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "spec.model"),
        ({"model": {"uri": "s4://bucket/m.onnx"}}, "spec.model.uri"),
        ({"model": {"uri": "https://u:p@host/m.onnx"}}, "spec.model.uri"),
        ({"model": {"uri": "s3://key@bucket/m.onnx"}}, "spec.model.uri"),
        ({"model": {"uri": "file:///m.onnx", "sha256": "XYZ"}}, "spec.model.sha256"),
        ({"model": {"uri": "file:///m.onnx"}, "replicas": -1}, "spec.replicas"),
        ({"model": {"uri": "file:///m.onnx"}, "replicas": 2, "autoscaling": {"maxReplicas": 3}}, "spec"),
        (
            {"model": {"uri": "file:///m.onnx"}, "autoscaling": {"minReplicas": 4, "maxReplicas": 3}},
            "spec.autoscaling",
        ),
        ({"model": {"uri": "file:///m.onnx"}, "runtime": {"name": "triton"}}, "spec.runtime.name"),
        (
            {"model": {"uri": "file:///m.onnx"}, "runtime": {"env": [{"name": "A"}, {"name": "A"}]}},
            "spec.runtime.env",
        ),
        (
            {"model": {"uri": "file:///m.onnx"}, "monitoring": {"serviceMonitor": {"interval": "soon"}}},
            "spec.monitoring.serviceMonitor.interval",
        ),
    ],
)
def test_invalid_specs_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")


def _walk(node: Any, path: str = "") -> list[str]:
    """Every path in a schema that is not structural (anyOf, $ref, title, missing type)."""
    bad: list[str] = []
    if isinstance(node, dict):
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "title", "const"):
            if forbidden in node:
                bad.append(f"{path}.{forbidden}")
        has_children = "properties" in node or "items" in node or "additionalProperties" in node
        if has_children and node.get("type") not in ("object", "array"):
            bad.append(f"{path}: no type")
        for key, value in node.items():
            if key != "x-kubernetes-validations":
                bad.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            bad.extend(_walk(value, f"{path}[{i}]"))
    return bad


def test_crd_schema_is_structural() -> None:
    version = build_crd()["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["model"]
    sha = spec["properties"]["model"]["properties"]["sha256"]
    assert sha["type"] == "string"
    assert sha["x-kubernetes-validations"][0]["rule"] == "self.matches('^[a-f0-9]{64}$')"
    quantities = spec["properties"]["runtime"]["properties"]["resources"]["properties"]["limits"]
    assert quantities["additionalProperties"] == {
        "x-kubernetes-int-or-string": True,
        "description": "A Kubernetes resource quantity, e.g. 500m, 2, 1Gi.",
        "maxLength": 64,
    }
    assert any(
        "has(self.replicas) && has(self.autoscaling)" in v["rule"] for v in spec["x-kubernetes-validations"]
    )
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]][:3] == ["Ready", "Phase", "Stable"]


def test_every_schema_field_has_a_description() -> None:
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]

    def missing(node: dict[str, Any], path: str) -> list[str]:
        out = [] if "description" in node else [path]
        for key, child in (node.get("properties") or {}).items():
            out.extend(missing(child, f"{path}.{key}"))
        return out

    assert missing(spec, "spec") == []


def test_checked_in_crd_matches_the_models() -> None:
    """The drift check CI runs: crds/ must be regenerated when the models change."""
    crd = Path(__file__).resolve().parents[2] / "crds" / "serving.glidepath.io_modeldeployments.yaml"
    assert main(["--check", str(crd)]) == 0
    assert yaml.safe_load(render_yaml()) == build_crd()


def test_drift_check_fails_on_a_stale_file(tmp_path: Any) -> None:
    stale = tmp_path / "crd.yaml"
    stale.write_text(render_yaml().replace("mdep", "mdx"))
    assert main(["--check", str(stale)]) == 1


@pytest.mark.parametrize(
    "uri",
    ["https://host/a@b/m.onnx", "s3://bucket/team@example/m.onnx", "http://host:8080/m.onnx?tag=a@b"],
)
def test_an_at_sign_outside_the_authority_is_not_credentials(uri: str) -> None:
    assert parse_spec({"model": {"uri": uri}}).model.uri == uri
