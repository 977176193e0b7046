"""What helm renders (default values and every ci/*-values.yaml) and the kustomize base, validated by
the real API server with a server-side dry run, with the Prometheus-operator and kopf CRDs installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.chart.support import CHART, REPO, Helm, install_crd_file
from tests.chart.test_render import VALUE_SETS
from tests.support.cluster import LocalCluster


@pytest.fixture(scope="module")
def crds(third_party_crds: LocalCluster) -> LocalCluster:
    """The cluster with every CRD the rendered objects are instances of: the chart's crds/ folder
    (kopf peering) and the ModelDeployment CRD, applied for real as `helm install` would first."""
    install_crd_file(third_party_crds, CHART / "crds" / "kopf-peering.yaml")
    return third_party_crds


def dry_run(cluster: LocalCluster, manifests: str) -> str:
    """Server-side apply dry run of a YAML stream; returns kubectl's report. Raises on refusal."""
    return cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager=glidepath-chart-tests",
        "-f",
        "-",
        stdin=manifests,
    ).stdout


@pytest.mark.parametrize("values", VALUE_SETS)
def test_rendered_chart_is_accepted_by_the_api_server(
    crds: LocalCluster, helm: Helm, namespace: str, values: tuple[Path, ...]
) -> None:
    for path in values:
        for watched in yaml.safe_load(path.read_text()).get("watchNamespaces") or []:
            if not crds.kubectl("get", "namespace", watched, "--ignore-not-found", "-o", "name").stdout:
                crds.create_namespace(watched)
    rendered = helm.template(namespace=namespace, values=values, release="dry-run", include_crds=True)
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered) if d}
    report = dry_run(crds, rendered)
    assert report.count("(server dry run)") == len([d for d in yaml.safe_load_all(rendered) if d])
    assert "Deployment" in kinds


def test_kustomize_base_is_accepted_by_the_api_server(
    crds: LocalCluster, tmp_path: Path, namespace: str
) -> None:
    """`kubectl apply -k` of an overlay of deploy/base into another namespace (the base's own
    glidepath-system may hold the Helm release)."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"resources": [os.path.relpath(REPO / "deploy" / "base", overlay)], "namespace": namespace}
        )
    )
    rendered = crds.kubectl("kustomize", str(overlay)).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    (ns,) = [d for d in docs if d["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == namespace
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"][0]["namespace"] == namespace
    assert all(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kustomize"
        for d in docs
        if d["kind"] != "Namespace"
    )
    report = dry_run(crds, rendered)
    assert report.count("(server dry run)") == len(docs)
