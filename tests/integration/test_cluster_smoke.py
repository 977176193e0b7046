"""Smoke tests of the local control plane harness (tests/support/cluster.py).

Control plane: the server is the version we built; a TokenRequest token authenticates and RBAC applies.
Full cluster: Deployment pods get scheduled onto the kwok node and become Ready; marked pods never do.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import requests

from tests.support.cluster import NEVER_READY_ENV, LocalCluster, mark_never_ready, wait_for

K8S_VERSION = "v1.34.4"


def _deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "example.invalid/nothing:1"}]},
            },
        },
    }


def _pods(cluster: LocalCluster, namespace: str, app: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def _running_pods(cluster: LocalCluster, namespace: str, app: str) -> list[dict[str, Any]]:
    return [p for p in _pods(cluster, namespace, app) if p.get("status", {}).get("phase") == "Running"]


def _condition(pod: dict[str, Any], kind: str) -> str | None:
    conditions = pod.get("status", {}).get("conditions", [])
    return next((c["status"] for c in conditions if c["type"] == kind), None)


def test_server_reports_built_version(control_plane: LocalCluster) -> None:
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == K8S_VERSION
    assert version["clientVersion"]["gitVersion"] == K8S_VERSION


def test_deployment_pods_become_ready_on_kwok_node(full_cluster: LocalCluster, namespace: str) -> None:
    full_cluster.apply(_deployment("web", namespace, replicas=2))
    full_cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s", timeout=70)

    pods = _pods(full_cluster, namespace, "web")
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert _condition(pod, "Ready") == "True"
        assert pod["spec"]["nodeName"].startswith("kwok-node-")
        assert pod["status"]["podIP"]


def test_marked_pods_run_but_never_become_ready(full_cluster: LocalCluster, namespace: str) -> None:
    by_annotation = _deployment("canary-a", namespace, replicas=1)
    mark_never_ready(by_annotation["spec"]["template"])
    by_env = _deployment("canary-b", namespace, replicas=1)
    by_env["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": NEVER_READY_ENV, "value": "true"}]
    full_cluster.apply(by_annotation, by_env)

    for app in ("canary-a", "canary-b"):
        pods = wait_for(
            partial(_running_pods, full_cluster, namespace, app), timeout=60, what=f"a Running pod of {app}"
        )
        assert _condition(pods[0], "Ready") == "False"
        assert _condition(pods[0], "ContainersReady") == "False"
    # No stage makes them Ready later: a bounded wait for readiness fails.
    waited = full_cluster.kubectl(
        "wait",
        "pod",
        "-n",
        namespace,
        "-l",
        "app in (canary-a,canary-b)",
        "--for=condition=Ready",
        "--timeout=3s",
        check=False,
    )
    assert waited.returncode != 0, waited.stdout


def test_service_account_token_authenticates_but_rbac_forbids(
    control_plane: LocalCluster, namespace: str
) -> None:
    cluster = control_plane
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = cluster.kubectl("create", "token", "reader", "-n", namespace, "--duration=10m").stdout.strip()
    # trust_env=False: ignore $REQUESTS_CA_BUNDLE (it would override verify) and $HTTPS_PROXY.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(cluster.ca_file)
    session.headers["Authorization"] = f"Bearer {token}"

    review = session.post(
        f"{cluster.server}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        timeout=10,
    )
    assert review.status_code == 201, review.text
    assert review.json()["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"

    secrets = session.get(f"{cluster.server}/api/v1/namespaces/{namespace}/secrets", timeout=10)
    assert secrets.status_code == 403, secrets.text
    assert f"system:serviceaccount:{namespace}:reader" in secrets.json()["message"]
