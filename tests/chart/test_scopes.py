"""Two other shapes of the chart, installed with the real helm and run as their ServiceAccounts:

- replicas: 2 (ci/ha-values.yaml): kopf peering through the chart's ClusterKopfPeering; exactly one
  instance reconciles, and the other takes over when it goes;
- watchNamespaces: the operator reconciles there with namespaced Roles only, and nowhere else.

The session's cluster-wide operator (the `release` fixture) is stopped meanwhile, so only the
instances under test reconcile.
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import Release
from tests.chart.support import (
    CHART,
    Helm,
    PodProcess,
    forbidden_lines,
    get_json,
    kubectl_as,
    service_account_kubeconfig,
)
from tests.support.cluster import LocalCluster, wait_for

MODEL = {"uri": "http://127.0.0.1:1/model.onnx", "version": "1"}


@pytest.fixture
def quiet(release: Release) -> Iterator[Release]:
    """The session's operator stopped for the test, started again after it."""
    release.operator.stop()
    try:
        yield release
    finally:
        release.operator.start()
        release.operator.wait_healthy()


def apply_md(cluster: LocalCluster, namespace: str, name: str, replicas: int = 1) -> None:
    md = {
        "apiVersion": "serving.glidepath.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"model": MODEL, "replicas": replicas},
    }
    cluster.kubectl("apply", "--server-side", "--field-manager=user", "-f", "-", stdin=json.dumps(md))


def status_of(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    return get_json(cluster, "md", name, "-n", namespace).get("status") or {}


def reconciles(pod: PodProcess) -> float:
    """glidepath_reconcile_total of one instance, from its /metrics."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{pod.host_port('metrics')}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(v) for v in re.findall(r"^glidepath_reconcile_total\{[^}]*\} (\S+)$", text, re.M))


def install(helm: Helm, cluster: LocalCluster, release: str, namespace: str, *args: str) -> dict[str, Any]:
    """helm install (waiting for the pods, which kwok runs); returns the live Deployment."""
    helm.run(
        "install",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--wait",
        "--timeout=90s",
        *args,
        cluster=cluster,
    )
    return get_json(cluster, "deployment", release, "-n", namespace)


def test_two_replicas_run_one_active_instance(
    quiet: Release, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    cluster = quiet.cluster
    peering = f"ha-{uuid.uuid4().hex[:8]}"
    deployment = install(
        helm,
        cluster,
        "glidepath-ha",
        namespace,
        "--values",
        str(CHART / "ci" / "ha-values.yaml"),
        "--set",
        "crds.enabled=false",
        "--set",
        f"peering.name={peering}",
    )
    assert deployment["status"]["readyReplicas"] == 2
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = service_account_kubeconfig(cluster, namespace, account, tmp_path / "kubeconfig")
    # A short resync, so a standby that reconciles in the background would show it within the test.
    fast = {"GLIDEPATH_RESYNC_SECONDS": "2"}
    pods = [
        PodProcess(
            deployment, kubeconfig, tmp_path / f"{n}.log", pod_name=f"glidepath-ha-{n}", extra_env=fast
        )
        for n in "ab"
    ]
    try:
        apply_md(cluster, namespace, "ha")
        pods[0].start()  # alone: active, it reconciles "ha"
        wait_for(
            lambda: status_of(cluster, namespace, "ha").get("phase") == "Healthy",
            timeout=60,
            what="ha Healthy",
        )
        pods[1].start()
        for pod in pods:
            pod.wait_healthy()

        def peers() -> dict[str, Any] | None:
            status = get_json(cluster, "clusterkopfpeering", peering).get("status") or {}
            return status if {p.pod_name for p in pods} <= set(status) else None

        status = wait_for(peers, timeout=60, interval=0.5, what="both instances in the peering")
        priorities = {name: int(info["priority"]) for name, info in status.items()}
        assert len(set(priorities.values())) == 2  # distinct: kopf pauses everyone on a tie
        active, standby = sorted(pods, key=lambda p: priorities[p.pod_name], reverse=True)
        time.sleep(1.5)  # events already in flight when the standby paused drain
        paused_at = reconciles(standby)

        cluster.kubectl(
            "patch", "md", "ha", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 2}}'
        )
        wait_for(lambda: ready_replicas(cluster, namespace) == 2, timeout=60, what="the active to reconcile")
        time.sleep(3)  # more than one resync interval
        assert reconciles(standby) == paused_at, "the standby reconciled while paused"
        assert "Pausing operations" not in active.log_text()

        active.stop(signal.SIGTERM)  # it leaves the peering on its way out
        wait_for(
            lambda: "Resuming operations" in standby.log_text(), timeout=60, what="the standby to resume"
        )
        cluster.kubectl(
            "patch", "md", "ha", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 1}}'
        )
        wait_for(
            lambda: ready_replicas(cluster, namespace) == 1,
            timeout=60,
            what="the former standby to reconcile",
        )
        assert reconciles(standby) > paused_at
    finally:
        for pod in pods:
            pod.stop()
        helm.run("uninstall", "glidepath-ha", "--namespace", namespace, cluster=cluster)


def ready_replicas(cluster: LocalCluster, namespace: str) -> int | None:
    stable = status_of(cluster, namespace, "ha").get("stable") or {}
    return stable.get("replicas") if stable.get("readyReplicas") == stable.get("replicas") else None


def test_watch_namespaces_confine_the_operator(
    quiet: Release, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    cluster = quiet.cluster
    other = f"unwatched-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(other)
    deployment = install(
        helm,
        cluster,
        "glidepath-scoped",
        namespace,
        "--set",
        "crds.enabled=false",
        "--set",
        f"watchNamespaces={{{namespace}}}",
    )
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = service_account_kubeconfig(cluster, namespace, account, tmp_path / "kubeconfig")
    for verb, where, want in (
        ("list", ["-n", namespace], "yes"),
        ("list", ["-n", other], "no"),
        ("list", ["-A"], "no"),
    ):
        out = kubectl_as(cluster, kubeconfig, "auth", "can-i", verb, "deployments.apps", *where)
        assert out.stdout.strip() == want, (verb, where)
    pod = PodProcess(deployment, kubeconfig, tmp_path / "operator.log", pod_name="glidepath-scoped-0")
    try:
        pod.start()
        pod.wait_healthy()
        apply_md(cluster, other, "ignored")
        apply_md(cluster, namespace, "watched")
        wait_for(
            lambda: status_of(cluster, namespace, "watched").get("phase") == "Healthy",
            timeout=60,
            what="watched Healthy",
        )
        assert status_of(cluster, other, "ignored") == {}
        assert not cluster.kubectl("get", "deployments", "-n", other, "-o", "name").stdout.strip()
        # kopf itself tries cluster-wide lists (namespaces, CRDs) and falls back; glidepath never is refused.
        assert [ln for ln in forbidden_lines(pod.log_text()) if " glidepath." in ln] == []
    finally:
        pod.stop()
        helm.run("uninstall", "glidepath-scoped", "--namespace", namespace, cluster=cluster)
        cluster.kubectl("delete", "namespace", other, "--wait=false")
