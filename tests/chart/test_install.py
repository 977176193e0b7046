"""The chart installed with the real helm into the local control plane, as the docs say; its operator
pod's command run as the chart's ServiceAccount (a TokenRequest token): the RBAC it grants is enough
for every child kind and verb the operator uses, and a verb it does not need is refused."""

from __future__ import annotations

import json

import pytest

from tests.chart.conftest import Release, run_commands
from tests.chart.support import Helm, forbidden_lines, get_json, kubectl_as
from tests.support.cluster import wait_for


def test_install_docs_work_as_written(release: Release, helm: Helm) -> None:
    """docs/install.md (= the chart README's commands): helm install, the rollout, apply the example,
    wait for Ready. The install part ran in the `release` fixture; the rest runs here."""
    notes = helm.run(
        "get", "notes", release.name, "--namespace", release.namespace, cluster=release.cluster
    ).stdout
    assert "kubectl apply -n ml -f examples/classifier.yaml" in notes  # NOTES.txt tells the next command
    assert "kubectl wait -n ml --for=condition=Ready modeldeployment/classifier" in notes
    run_commands(helm, release.cluster, release.remaining_commands)
    md = get_json(release.cluster, "modeldeployment", "classifier", "-n", "ml")
    assert md["status"]["phase"] == "Healthy"
    assert forbidden_lines(release.operator.log_text()) == []


def test_operator_pod_is_admitted_under_restricted_pod_security(release: Release) -> None:
    """The docs label the namespace `enforce=restricted`; the chart's pods were created there (the
    rollout finished) while a privileged pod is refused."""
    ns = get_json(release.cluster, "namespace", release.namespace)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = release.deployment()
    assert deployment["status"]["readyReplicas"] == deployment["spec"]["replicas"]
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged", "namespace": release.namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    out = release.cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(privileged), check=False
    )
    assert out.returncode != 0
    assert "violates PodSecurity" in out.stderr


def _phase(release: Release, namespace: str, name: str) -> str | None:
    md = get_json(release.cluster, "modeldeployment", name, "-n", namespace)
    status = md.get("status") or {}
    fresh = status.get("observedGeneration") == md["metadata"]["generation"]
    return status.get("phase") if fresh else None


def _exists(release: Release, namespace: str, kind: str, name: str) -> bool:
    out = release.cluster.kubectl("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name")
    return bool(out.stdout.strip())


def test_service_account_rbac_is_enough_for_every_child_kind(release: Release, namespace: str) -> None:
    """Apply (create, patch), observe, prune (list, delete) every child kind (Deployment, Services,
    HPA, ServiceMonitor, HTTPRoute, TF Serving's ConfigMap), read pods, write status, post Events,
    and deletion goes through; the API server refuses nothing."""
    onnx = {
        "apiVersion": "serving.glidepath.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "everything", "namespace": namespace},
        "spec": {
            "model": {"uri": "http://127.0.0.1:1/model.onnx", "version": "1"},
            "autoscaling": {"minReplicas": 1, "maxReplicas": 3},
            "monitoring": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
            "rollout": {"traffic": {"mode": "gatewayAPI", "parentRefs": [{"name": "public"}]}},
        },
    }
    tf = {
        "apiVersion": "serving.glidepath.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "tf", "namespace": namespace},
        "spec": {
            "model": {"uri": "http://127.0.0.1:1/tf/model.tar.gz", "version": "1", "format": "tensorflow"},
            "runtime": {"name": "tfserving"},
            "replicas": 1,
        },
    }
    cluster = release.cluster
    for md in (onnx, tf):
        cluster.kubectl("apply", "--server-side", "--field-manager=user", "-f", "-", stdin=json.dumps(md))
    wait_for(
        lambda: all(_phase(release, namespace, n) == "Healthy" for n in ("everything", "tf")),
        timeout=60,
        interval=0.3,
        what="everything and tf Healthy",
    )
    conditions = {
        c["type"]: c for c in get_json(cluster, "md", "everything", "-n", namespace)["status"]["conditions"]
    }
    assert (conditions["ServiceMonitor"]["status"], conditions["ServiceMonitor"]["reason"]) == (
        "True",
        "Applied",
    )
    children = {
        ("deployment", "everything-stable"),
        ("service", "everything"),
        ("horizontalpodautoscaler", "everything"),
        ("servicemonitor", "everything"),
        ("httproute", "everything"),
        ("deployment", "tf-stable"),
    }
    for kind, name in children:
        assert _exists(release, namespace, kind, name), (kind, name)
    (config_map,) = [
        cm
        for cm in get_json(cluster, "configmaps", "-n", namespace)["items"]
        if cm["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == "tf"
    ]
    events = get_json(cluster, "events", "-n", namespace)["items"]
    assert any(e["source"].get("component") == "glidepath" for e in events), events

    patch = [
        {"op": "remove", "path": "/spec/autoscaling"},
        {"op": "add", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/monitoring/serviceMonitor/enabled", "value": False},
        {"op": "remove", "path": "/spec/rollout"},
    ]
    cluster.kubectl("patch", "md", "everything", "-n", namespace, "--type=json", "-p", json.dumps(patch))
    to_onnx = {
        "spec": {
            "model": {"format": "onnx", "uri": "http://127.0.0.1:1/model.onnx"},
            "runtime": {"name": "onnxruntime"},
        }
    }
    cluster.kubectl("patch", "md", "tf", "-n", namespace, "--type=merge", "-p", json.dumps(to_onnx))
    gone = [
        ("horizontalpodautoscaler", "everything"),
        ("servicemonitor", "everything"),
        ("httproute", "everything"),
        ("configmap", config_map["metadata"]["name"]),
    ]
    wait_for(
        lambda: not any(_exists(release, namespace, kind, name) for kind, name in gone),
        timeout=60,
        interval=0.3,
        what="HPA, ServiceMonitor, HTTPRoute and ConfigMap pruned",
    )
    for name in ("everything", "tf"):
        cluster.kubectl("delete", "md", name, "-n", namespace, "--wait=false")
    wait_for(
        lambda: not _exists(release, namespace, "modeldeployment", "everything"),
        timeout=60,
        interval=0.3,
        what="everything deleted",
    )
    assert forbidden_lines(release.operator.log_text()) == []


GRANTED = [
    ("get", "modeldeployments.serving.glidepath.io"),
    ("watch", "modeldeployments.serving.glidepath.io"),
    ("patch", "modeldeployments.serving.glidepath.io/status"),
    ("update", "modeldeployments.serving.glidepath.io/finalizers"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("list", "services"),
    ("create", "configmaps"),
    ("delete", "horizontalpodautoscalers.autoscaling"),
    ("patch", "servicemonitors.monitoring.coreos.com"),
    ("delete", "httproutes.gateway.networking.k8s.io"),
    ("list", "pods"),
    ("create", "events"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
REFUSED = [
    ("get", "secrets"),
    ("patch", "modeldeployments.serving.glidepath.io"),
    ("get", "pods"),
    ("watch", "pods"),
    ("get", "httproutes.gateway.networking.k8s.io"),
    ("delete", "secrets"),
    ("create", "pods"),
    ("delete", "pods"),
    ("update", "deployments.apps"),
    ("update", "services"),
    ("create", "modeldeployments.serving.glidepath.io"),
    ("update", "modeldeployments.serving.glidepath.io"),
    ("delete", "modeldeployments.serving.glidepath.io"),
    ("update", "modeldeployments.serving.glidepath.io/status"),
    ("get", "services"),
    ("patch", "events"),
    ("delete", "events"),
    ("get", "configmaps"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("patch", "nodes"),
    ("create", "serviceaccounts/token"),
]


@pytest.mark.parametrize(
    ("verb", "resource"), GRANTED + REFUSED, ids=[f"{v}-{r}" for v, r in GRANTED + REFUSED]
)
def test_service_account_can_exactly_what_it_needs(release: Release, verb: str, resource: str) -> None:
    kind, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, kind, "-A", *([f"--subresource={sub}"] if sub else [])]
    out = kubectl_as(release.cluster, release.kubeconfig, *args)
    assert out.stdout.strip() == ("yes" if (verb, resource) in GRANTED else "no"), out.stderr


def test_an_unneeded_verb_is_refused_by_the_api_server(release: Release) -> None:
    """Real requests, not only access reviews: listing Secrets and creating a Pod are Forbidden."""
    out = kubectl_as(release.cluster, release.kubeconfig, "get", "secrets", "-n", release.namespace)
    assert out.returncode != 0
    assert 'cannot list resource "secrets"' in out.stderr
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "intruder", "namespace": release.namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    out = kubectl_as(release.cluster, release.kubeconfig, "create", "-f", "-", stdin=json.dumps(pod))
    assert out.returncode != 0
    assert 'cannot create resource "pods"' in out.stderr
    assert (
        release.cluster.kubectl(
            "get", "pod", "intruder", "-n", release.namespace, "--ignore-not-found"
        ).stdout
        == ""
    )
