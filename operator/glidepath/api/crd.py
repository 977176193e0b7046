"""Generate the ModelDeployment CustomResourceDefinition from the pydantic models.

The CRD in ``crds/`` is this module's output and is checked for drift in CI:

    python -m glidepath.api.crd > crds/serving.glidepath.io_modeldeployments.yaml
    python -m glidepath.api.crd --check crds/serving.glidepath.io_modeldeployments.yaml

Pydantic's JSON Schema is turned into a Kubernetes *structural* schema: ``$ref`` inlined, optional
fields (``anyOf [X, null]``) collapsed to ``X``, ``int | str`` to ``x-kubernetes-int-or-string``,
free-form objects to ``x-kubernetes-preserve-unknown-fields``, titles dropped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from glidepath import naming
from glidepath.api.spec import ModelDeploymentSpec
from glidepath.api.status import ModelDeploymentStatus

JsonSchema = dict[str, Any]

NAME_RULE = {
    "rule": "size(self.metadata.name) <= 52",
    "message": "metadata.name must be at most 52 characters: it prefixes the names of the Deployments "
    "(<name>-canary) and Services the operator creates",
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "Stable",
        "type": "string",
        "jsonPath": ".status.stable.version",
        "description": "Stable model version",
    },
    {
        "name": "Canary",
        "type": "string",
        "jsonPath": ".status.canary.version",
        "description": "Canary model version",
    },
    {
        "name": "Weight",
        "type": "integer",
        "jsonPath": ".status.canary.weight",
        "description": "Canary traffic, percent",
    },
    {"name": "Revision", "type": "string", "jsonPath": ".status.stable.revision", "priority": 1},
    {"name": "URL", "type": "string", "jsonPath": ".status.url", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _resolve(node: Any, defs: dict[str, JsonSchema]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**_resolve(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, defs)
        return {k: _resolve(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def _structural(node: JsonSchema) -> JsonSchema:
    """Turn one resolved pydantic JSON Schema node into a structural-schema node."""
    node = {k: v for k, v in node.items() if k not in ("title", "$defs")}
    extra_validations = node.pop("x-kubernetes-validations", None)
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        types = sorted(b.get("type", "") for b in branches)
        if types == ["integer", "string"]:
            node["x-kubernetes-int-or-string"] = True
        elif len(branches) == 1:
            inner = _structural(branches[0])
            # the outer node's description/default win over the inner model's docstring
            node = {**inner, **node}
        else:
            raise ValueError(f"cannot express anyOf {branches} in a structural schema")
        if node.get("default", ...) is None:
            node.pop("default")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("type") == "object":
        props = node.get("properties")
        additional = node.get("additionalProperties")
        if props:
            node["properties"] = {k: _structural(v) for k, v in props.items()}
        if additional is True or (props is None and additional is None):
            node.pop("additionalProperties", None)
            node["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(additional, dict):
            node["additionalProperties"] = _structural(additional)
    if node.get("type") == "array" and "items" in node:
        node["items"] = _structural(node["items"])
    if node.get("format") == "date-time":
        node["type"] = "string"
    if node.get("default") in ({}, []):
        node.pop("default")
    if isinstance(node.get("default"), dict):
        node.pop("default")  # object defaults are applied by the pydantic model, not the API server
    if extra_validations:
        node["x-kubernetes-validations"] = extra_validations
    return node


def _without_validations(node: Any) -> Any:
    """Drop CEL rules (status is written by the operator only; its rules would only cost budget)."""
    if isinstance(node, dict):
        return {k: _without_validations(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [_without_validations(v) for v in node]
    return node


def schema_of(model: type[Any]) -> JsonSchema:
    """Structural OpenAPI v3 schema of a pydantic model, camelCase, with CEL rules kept."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(_resolve(raw, defs))


def build_crd() -> dict[str, Any]:
    """Return the CustomResourceDefinition manifest (apiextensions.k8s.io/v1) as a dict."""
    spec = schema_of(ModelDeploymentSpec)
    spec["description"] = (
        "What to serve and how: the model, its runtime, scaling and monitoring. The operator never writes it."
    )
    status = _without_validations(schema_of(ModelDeploymentStatus))
    status["description"] = "What the operator observed and decided. Written only by the operator."
    root: JsonSchema = {
        "type": "object",
        "description": "ModelDeployment serves one machine-learning model on plain Kubernetes Deployments, "
        "with a Service, an optional HorizontalPodAutoscaler and a ServiceMonitor.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [NAME_RULE],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": naming.CRD_NAME,
            "labels": {"app.kubernetes.io/name": "glidepath", "app.kubernetes.io/part-of": "glidepath"},
        },
        "spec": {
            "group": naming.GROUP,
            "names": {
                "kind": naming.KIND,
                "listKind": f"{naming.KIND}List",
                "plural": naming.PLURAL,
                "singular": naming.SINGULAR,
                "shortNames": list(naming.SHORT_NAMES),
                "categories": ["glidepath", "all"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": naming.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def render_yaml() -> str:
    """The CRD as YAML text, with a header saying it is generated."""
    header = "# Generated by `python -m glidepath.api.crd` from operator/glidepath/api. Do not edit.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    """Print the CRD, or with ``--check FILE`` exit 1 when FILE differs from what would be generated."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", metavar="FILE", type=Path, help="fail if FILE is not up to date")
    args = parser.parse_args(argv)
    text = render_yaml()
    if args.check is not None:
        current = args.check.read_text() if args.check.exists() else ""
        if current != text:
            print(f"{args.check} is out of date: run `make crds`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
