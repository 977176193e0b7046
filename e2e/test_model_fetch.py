"""Fetch failures reach the user (kserve #1859, #3823): the operator reads the fetcher's termination
message from the track's pods into the ModelReady condition, and Ready goes False."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from glidepath import naming
from glidepath.k8s import MODEL_DEPLOYMENT, Kube, connect
from glidepath.k8s.client import POD

from tests.support.cluster import HANDS_OFF_ANNOTATION, LocalCluster, install_crd, wait_for
from tests.support.operator import OperatorProcess
from tests.support.walkthrough import CRD

DIGEST = "5e" * 32


@pytest.fixture
def operated(full_cluster: LocalCluster, tmp_path: Path) -> Iterator[Kube]:
    install_crd(full_cluster, CRD)
    kube = connect(str(full_cluster.kubeconfig))
    with OperatorProcess(full_cluster, tmp_path / "operator.log"):
        yield kube
    kube.close()


def conditions(kube: Kube, ns: str, name: str) -> dict[str, dict[str, Any]]:
    md = kube.get(MODEL_DEPLOYMENT, ns, name) or {}
    return {c["type"]: c for c in (md.get("status") or {}).get("conditions") or []}


def kubelet_reports(kube: Kube, ns: str, pod: dict[str, Any], exit_code: int, message: str) -> None:
    """Write the pod status a kubelet writes when the fetcher init container ends this way."""
    failed = exit_code != 0
    init = {
        "name": naming.FETCH_CONTAINER,
        "image": "glidepath",
        "imageID": "",
        "ready": not failed,
        "restartCount": 3 if failed else 0,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        if failed
        else {"terminated": {"exitCode": 0, "reason": "Completed", "message": message}},
        "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message}}
        if failed
        else {},
    }
    status: dict[str, Any] = {"initContainerStatuses": [init]}
    if failed:
        status["phase"] = "Pending"
        status["conditions"] = [
            {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
            {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
            {"type": "PodScheduled", "status": "True"},
        ]
        status["containerStatuses"] = [
            {
                "name": naming.RUNTIME_CONTAINER,
                "image": "glidepath",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}},
            }
        ]
    path = POD.path(ns, pod["metadata"]["name"], "status")
    kube.request(
        "PATCH", path, body={"status": status}, content_type="application/strategic-merge-patch+json"
    )


def test_fetch_failure_sets_model_ready_false_and_ready_false(
    operated: Kube, full_cluster: LocalCluster, namespace: str
) -> None:
    kube = operated
    md = {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": "guarded"},
        "spec": {"model": {"uri": "s3://models/guarded/model.onnx", "sha256": "0" * 64}, "replicas": 1},
    }
    full_cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(md))
    wait_for(
        lambda: conditions(kube, namespace, "guarded").get("Ready", {}).get("status") == "True",
        timeout=60,
        what="Ready",
    )
    (pod,) = kube.list(POD, namespace, "serving.glidepath.io/track=stable")
    patch = {"metadata": {"annotations": {HANDS_OFF_ANNOTATION: "true"}}}  # kwok: the test is the kubelet now
    kube.request(
        "PATCH",
        POD.path(namespace, pod["metadata"]["name"]),
        body=patch,
        content_type="application/merge-patch+json",
    )

    kubelet_reports(
        kube,
        namespace,
        pod,
        0,
        f"Verified: sha256 {DIGEST} of s3://models/guarded/model.onnx (file, 682 bytes) -> /mnt/models/model.onnx",
    )
    wait_for(
        lambda: conditions(kube, namespace, "guarded").get("ModelReady", {}).get("reason") == "Verified",
        timeout=30,
        what="Verified",
    )
    stable = (kube.get(MODEL_DEPLOYMENT, namespace, "guarded") or {})["status"]["stable"]
    assert stable["modelDigest"] == DIGEST

    message = f"ChecksumMismatch: sha256 mismatch for s3://models/guarded/model.onnx: expected {'0' * 64}, got {DIGEST}"
    kubelet_reports(kube, namespace, pod, 4, message)

    def failed() -> dict[str, dict[str, Any]] | None:
        conds = conditions(kube, namespace, "guarded")
        return conds if conds.get("ModelReady", {}).get("status") == "False" else None

    conds = wait_for(failed, timeout=30, what="ModelReady False")
    assert conds["ModelReady"]["reason"] == "ChecksumMismatch"
    assert conds["ModelReady"]["message"] == message
    wait_for(
        lambda: conditions(kube, namespace, "guarded")["Ready"]["status"] == "False",
        timeout=30,
        what="Ready False",
    )
    ready = conditions(kube, namespace, "guarded")["Ready"]
    assert ready["reason"] == "ChecksumMismatch"
    assert "expected 000" in ready["message"]
    md_status = (kube.get(MODEL_DEPLOYMENT, namespace, "guarded") or {})["status"]
    assert "modelDigest" not in md_status["stable"]
