"""Generate the chart's derived files from their single sources, or check them for drift.

    python hack/gen_chart.py            # write the files below
    python hack/gen_chart.py --check    # exit 1, naming each file, if one differs (make lint)
    python hack/gen_chart.py --deploy --helm PATH   # also render deploy/base/glidepath.yaml

Sources and what is derived from them:

- ``charts/glidepath/values.yaml`` (values documented key by key) ->
  ``charts/glidepath/values.schema.json`` (strict JSON schema that Helm enforces) and the values table
  of ``charts/glidepath/README.md`` (between ``<!-- values:start -->`` and ``<!-- values:end -->``).
- ``crds/serving.glidepath.io_modeldeployments.yaml`` (generated from the operator's pydantic models)
  -> ``charts/glidepath/files/crds/`` (the copy the chart's CRD template reads with ``.Files.Get``).
- ``charts/glidepath/files/argocd-health.lua`` (the Argo CD health check) -> ``docs/argocd/argocd-cm-patch.yaml``
  (the argocd-cm entry that installs it).
- the chart with its default values -> ``deploy/base/glidepath.yaml`` (``helm template``), the manifest
  of the kustomize base for ``kubectl apply -k deploy/base``. Needs helm, so only with ``--deploy``.

values.yaml conventions: the comment lines right above a key are its description (every key needs
one). A comment line ``+schema: {...}`` adds JSON-schema keywords in YAML flow syntax. A map whose
``+schema`` sets neither ``properties`` nor ``additionalProperties`` has documented keys and rejects
unknown ones; otherwise its contents are data (e.g. ``resources``) and are not walked.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "glidepath"
VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"
README = CHART / "README.md"
CRD_SOURCE = REPO / "crds" / "serving.glidepath.io_modeldeployments.yaml"
CRD_COPY = CHART / "files" / "crds" / CRD_SOURCE.name
DEPLOY = REPO / "deploy" / "base" / "glidepath.yaml"
HEALTH_LUA = CHART / "files" / "argocd-health.lua"
ARGOCD_CM_PATCH = REPO / "docs" / "argocd" / "argocd-cm-patch.yaml"
ARGOCD_HEALTH_KEY = "resource.customizations.health.serving.glidepath.io_ModelDeployment"
DEPLOY_RELEASE = "glidepath"
DEPLOY_NAMESPACE = "glidepath-system"

TABLE_START = "<!-- values:start -->"
TABLE_END = "<!-- values:end -->"
SCHEMA_MARK = "+schema:"

_KEY = re.compile(r"^(?P<key>[A-Za-z0-9_][A-Za-z0-9_.\-/]*|\"[^\"]+\"):(?:\s+(?P<rest>.*))?$")

Path_ = tuple[str, ...]


class ValuesError(ValueError):
    """values.yaml breaks a convention (a key without a description, a bad +schema line)."""


@dataclass
class KeyDoc:
    """What the comments above one key say: its description and extra schema keywords."""

    description: str
    schema: dict[str, Any] = field(default_factory=dict)
    line: int = 0


def parse_docs(text: str) -> dict[Path_, KeyDoc]:
    """Map each key path of values.yaml to its KeyDoc, from the comment block right above it.

    Block scalars (``|``, ``>``) and list items are data: lines inside them are skipped.
    """
    docs: dict[Path_, KeyDoc] = {}
    stack: list[tuple[int, str]] = []
    pending: list[tuple[int, str]] = []
    block_indent: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            pending.append((indent, stripped[1:].strip()))
            continue
        if stripped.startswith("- ") or stripped == "-":
            pending = []
            continue
        match = _KEY.match(stripped)
        if match is None:
            pending = []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match.group("key").strip('"')
        path = (*(k for _, k in stack), key)
        lines = [c for i, c in pending if i == indent]
        description = " ".join(c for c in lines if not c.startswith(SCHEMA_MARK)).strip()
        schema: dict[str, Any] = {}
        for c in lines:
            if c.startswith(SCHEMA_MARK):
                try:
                    extra = yaml.safe_load(c[len(SCHEMA_MARK) :])
                except yaml.YAMLError as exc:
                    raise ValuesError(f"values.yaml:{number}: bad {SCHEMA_MARK} line: {exc}") from exc
                if not isinstance(extra, dict):
                    raise ValuesError(f"values.yaml:{number}: {SCHEMA_MARK} must be a mapping")
                schema.update(extra)
        docs[path] = KeyDoc(description=description, schema=schema, line=number)
        pending = []
        stack.append((indent, key))
        rest = (match.group("rest") or "").strip()
        if rest[:1] in ("|", ">"):
            block_indent = indent
    return docs


def _json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _is_walked(value: Any, extra: dict[str, Any]) -> bool:
    """Whether a map's keys are documented values (walked, strict) rather than data."""
    return isinstance(value, dict) and "properties" not in extra and "additionalProperties" not in extra


def key_schema(path: Path_, value: Any, docs: dict[Path_, KeyDoc]) -> dict[str, Any]:
    """JSON schema of one key: type from its default, description and +schema from its comments."""
    doc = docs.get(path)
    name = ".".join(path)
    if doc is None or not doc.description:
        raise ValuesError(f"values.yaml: key {name} has no description (a comment right above it)")
    extra = dict(doc.schema)
    schema: dict[str, Any] = {"description": doc.description}
    inferred = _json_type(value)
    if inferred is None and "type" not in extra:
        raise ValuesError(f"values.yaml:{doc.line}: {name} is null: give its type in a {SCHEMA_MARK} line")
    if inferred is not None:
        schema["type"] = inferred
    if _is_walked(value, extra):
        schema["properties"] = {k: key_schema((*path, k), v, docs) for k, v in value.items()}
        schema["additionalProperties"] = False
    elif not isinstance(value, dict | list):
        schema["default"] = value
    schema.update(extra)
    return schema


def values_schema(text: str) -> dict[str, Any]:
    """The strict values.schema.json for the values.yaml ``text``."""
    values = yaml.safe_load(text) or {}
    docs = parse_docs(text)
    walked = {(k,) for k in values}
    stray = [".".join(p) for p in docs if len(p) == 1 and p not in walked]
    if stray:
        raise ValuesError(f"values.yaml: documented keys not in the values: {stray}")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Values of the glidepath Helm chart",
        "description": "Generated from values.yaml by hack/gen_chart.py. Do not edit.",
        "type": "object",
        "properties": {k: key_schema((k,), v, docs) for k, v in values.items()},
        "additionalProperties": False,
    }


def _rows(path: Path_, schema: dict[str, Any], value: Any) -> list[str]:
    props = schema.get("properties") or {}
    if props and all("description" in sub for sub in props.values()) and isinstance(value, dict):
        rows: list[str] = []
        for key, sub in props.items():
            rows += _rows((*path, key), sub, value.get(key))
        return rows
    default = json.dumps(value, separators=(", ", ": "))
    type_ = schema.get("type", "")
    type_ = " \\| ".join(type_) if isinstance(type_, list) else type_
    description = str(schema["description"]).replace("|", "\\|")
    return [f"| `{'.'.join(path)}` | {type_} | `{default}` | {description} |"]


def values_table(text: str, schema: dict[str, Any]) -> str:
    """The markdown table of every documented key: key, type, default, description."""
    values = yaml.safe_load(text) or {}
    lines = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for key, sub in schema["properties"].items():
        lines += _rows((key,), sub, values.get(key))
    return "\n".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the values markers replaced by ``table``."""
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValuesError(f"{README}: missing {TABLE_START} ... {TABLE_END}")
    return readme[: start + len(TABLE_START)] + "\n" + table + "\n" + readme[end:]


def argocd_cm_patch(lua: str) -> str:
    """The argocd-cm patch that installs the health check (``kubectl patch --patch-file``)."""
    body = "".join(f"    {line}\n" if line else "\n" for line in lua.splitlines())
    return (
        "# Generated by `make chart` from charts/glidepath/files/argocd-health.lua. Do not edit.\n"
        "# kubectl -n argocd patch configmap argocd-cm --type merge --patch-file docs/argocd/argocd-cm-patch.yaml\n"
        "data:\n"
        f"  {ARGOCD_HEALTH_KEY}: |\n"
        f"{body}"
    )


def render_deploy(helm: str) -> str:
    """The kustomize base's manifest: `helm template` with the default values, CRDs included."""
    out = subprocess.run(
        [
            helm,
            "template",
            DEPLOY_RELEASE,
            str(CHART),
            "--namespace",
            DEPLOY_NAMESPACE,
            "--include-crds",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    header = (
        "# Generated by `make chart` (hack/gen_chart.py --deploy): `helm template glidepath charts/glidepath\n"
        f"# --namespace {DEPLOY_NAMESPACE} --include-crds` with the default values. Do not edit; change the\n"
        "# chart or overlay this base with kustomize.\n"
    )
    return header + out


def expected_files() -> dict[Path, str]:
    """Every derived file of the chart (not deploy/) and the content it must have."""
    text = VALUES.read_text()
    schema = values_schema(text)
    return {
        SCHEMA: json.dumps(schema, indent=2) + "\n",
        README: readme_with_table(README.read_text(), values_table(text, schema)),
        CRD_COPY: CRD_SOURCE.read_text(),
        ARGOCD_CM_PATCH: argocd_cm_patch(HEALTH_LUA.read_text()),
    }


def _sync(files: dict[Path, str], check: bool) -> list[Path]:
    """Write (or with ``check`` only list) the files whose content differs; returns them."""
    drift = [p for p, content in files.items() if not p.exists() or p.read_text() != content]
    for p in drift:
        if check:
            print(f"gen_chart: {p.relative_to(REPO)} is out of date: run `make chart`", file=sys.stderr)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(files[p])
            print(f"gen_chart: wrote {p.relative_to(REPO)}", file=sys.stderr)
    return drift


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail on drift instead of writing")
    parser.add_argument("--deploy", action="store_true", help="also render deploy/base (needs --helm)")
    parser.add_argument("--helm", default="helm", help="helm binary for --deploy")
    args = parser.parse_args(argv)
    try:
        drift = _sync(expected_files(), args.check)
    except ValuesError as exc:
        print(f"gen_chart: {exc}", file=sys.stderr)
        return 1
    if args.deploy:  # rendered from the chart as just written
        drift += _sync({DEPLOY: render_deploy(args.helm)}, args.check)
    return 1 if args.check and drift else 0


if __name__ == "__main__":
    raise SystemExit(main())
