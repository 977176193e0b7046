"""The main job end to end on the full local control plane (kube-controller-manager, kube-scheduler,
kwok): the operator process makes a ModelDeployment Ready, and its rendered pod serves a real model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.support import walkthrough
from tests.support.cluster import LocalCluster

REPO = Path(__file__).resolve().parents[1]


def test_model_deployment_serves_a_real_inference(
    full_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    result = walkthrough.run(full_cluster, tmp_path, namespace, rows=5)

    served = {o["name"]: o for o in result.served["outputs"]}
    assert served["label"]["datatype"] == "INT64"
    assert served["label"]["shape"] == [5]
    assert served["label"]["data"] == result.expected["label"]
    assert served["probabilities"]["shape"] == [5, 3]
    np.testing.assert_allclose(served["probabilities"]["data"], result.expected["probabilities"], rtol=1e-6)
    assert result.served["model_version"] == "1"

    status = result.md["status"]
    assert status["phase"] == "Healthy"
    assert status["observedGeneration"] == result.md["metadata"]["generation"]
    assert status["stable"]["readyReplicas"] == 2
    assert (
        status["stable"]["revision"]
        == result.deployment["metadata"]["annotations"]["serving.glidepath.io/revision"]
    )
    assert result.model_sha256 in result.termination_message
    assert "Healthy" in result.kubectl_get_md
    assert "True" in result.kubectl_get_md.splitlines()[1]

    pods = full_cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", "serving.glidepath.io/track=stable", "-o", "name"
    )
    assert len(pods.stdout.split()) == 2


def test_demo_command_prints_a_prediction() -> None:
    """README command 1 runs on its own fresh control plane and prints a prediction and the md table."""
    out = subprocess.run(
        [sys.executable, str(REPO / "hack" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert '"model_name": "classifier"' in out.stdout
    assert "Verified: sha256" in out.stdout
    table = out.stdout.split("$ kubectl get md -n demo -o wide")[1]
    assert "classifier" in table
    assert "Healthy" in table
