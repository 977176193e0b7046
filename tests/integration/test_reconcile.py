"""Reconcile against a real kube-apiserver: children, ownership, idempotence, pruning, status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from glidepath import naming, reconcile
from glidepath.api import parse_spec
from glidepath.k8s import Kube
from glidepath.k8s.client import (
    DEPLOYMENT,
    EVENT,
    HPA,
    MODEL_DEPLOYMENT,
    SERVICE,
    SERVICE_MONITOR,
    ResourceType,
)
from glidepath.reconcile import Reconciler, Settings
from glidepath.render import PROFILES, Owner
from glidepath.render.monitoring import render_service_monitor

from tests.integration.conftest import install_crd, third_party_crd
from tests.support.cluster import LocalCluster

SHA = "1f" * 32


def create_md(kube: Kube, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": name},
        "spec": {"model": {"uri": "http://127.0.0.1:1/model.onnx", "version": "2", "sha256": SHA}, **spec},
    }
    return kube.create(MODEL_DEPLOYMENT, namespace, body)


def merge_patch(kube: Kube, namespace: str, name: str, patch: dict[str, Any]) -> None:
    kube.request(
        "PATCH",
        MODEL_DEPLOYMENT.path(namespace, name),
        body=patch,
        content_type="application/merge-patch+json",
    )


def settle(reconciler: Reconciler, namespace: str, name: str, tries: int = 20) -> None:
    """Reconcile until a pass writes no status (controllers may still be moving the Deployment)."""
    for _ in range(tries):
        if not reconciler.reconcile(namespace, name).status_written:
            return
        time.sleep(0.5)
    raise AssertionError("status kept changing")


def versions(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    objs = {
        "md": kube.get(MODEL_DEPLOYMENT, namespace, name),
        "deployment": kube.get(DEPLOYMENT, namespace, f"{name}-stable"),
        "service": kube.get(SERVICE, namespace, name),
        "hpa": kube.get(HPA, namespace, name),
    }
    return {k: v["metadata"]["resourceVersion"] for k, v in objs.items() if v is not None}


def test_children_are_created_owned_and_labelled(kube: Kube, reconciler: Reconciler, namespace: str) -> None:
    md = create_md(kube, namespace, "fraud", autoscaling={"minReplicas": 2, "maxReplicas": 5})
    result = reconciler.reconcile(namespace, "fraud")
    assert result.found
    monitors = kube.has_api(SERVICE_MONITOR.api_version, SERVICE_MONITOR.plural)
    assert result.applied == (4 if monitors else 3)  # Deployment, Service, HPA (+ ServiceMonitor)
    assert result.status_written

    for rtype, name in ((DEPLOYMENT, "fraud-stable"), (SERVICE, "fraud"), (HPA, "fraud")):
        obj = kube.get(rtype, namespace, name)
        assert obj is not None, rtype.kind
        meta = obj["metadata"]
        (ref,) = meta["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "ModelDeployment",
            "fraud",
            md["metadata"]["uid"],
            True,
        )
        assert meta["labels"][naming.LABEL_MANAGED_BY] == "glidepath"
        assert meta["labels"][naming.LABEL_INSTANCE] == "fraud"
        assert meta["labels"][naming.LABEL_TRACK] in ("stable", "shared")
        managers = {f["manager"] for f in meta["managedFields"]}
        assert naming.FIELD_MANAGER in managers

    deployment = kube.get(DEPLOYMENT, namespace, "fraud-stable")
    assert deployment is not None
    applied = next(f for f in deployment["metadata"]["managedFields"] if f["manager"] == "glidepath")
    assert applied["operation"] == "Apply"
    assert "f:replicas" not in applied["fieldsV1"]["f:spec"]  # the HPA owns replicas

    status = kube.get(MODEL_DEPLOYMENT, namespace, "fraud")["status"]  # type: ignore[index]
    assert status["observedGeneration"] == md["metadata"]["generation"]
    assert status["url"] == f"http://fraud.{namespace}.svc.cluster.local:8080"
    assert status["stable"]["version"] == "2"
    assert status["stable"]["revision"] == deployment["metadata"]["annotations"][naming.ANNOTATION_REVISION]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False"  # no pods: no controller-manager in this tier
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["ServiceMonitor"]["reason"] == ("Applied" if monitors else "CRDNotInstalled")


def test_a_reconcile_with_no_change_writes_nothing(
    kube: Kube, reconciler: Reconciler, namespace: str
) -> None:
    create_md(kube, namespace, "quiet", autoscaling={"maxReplicas": 3})
    settle(reconciler, namespace, "quiet")
    before = versions(kube, namespace, "quiet")
    events_before = len(kube.list(EVENT, namespace))
    for _ in range(3):
        result = reconciler.reconcile(namespace, "quiet")
        assert not result.status_written
        assert result.events == []
    assert versions(kube, namespace, "quiet") == before
    assert set(before) == {"md", "deployment", "service", "hpa"}
    assert len(kube.list(EVENT, namespace)) == events_before


def test_removing_autoscaling_prunes_the_hpa(kube: Kube, reconciler: Reconciler, namespace: str) -> None:
    create_md(kube, namespace, "scaler", autoscaling={"maxReplicas": 4})
    reconciler.reconcile(namespace, "scaler")
    assert kube.get(HPA, namespace, "scaler") is not None

    merge_patch(kube, namespace, "scaler", {"spec": {"autoscaling": None, "replicas": 2}})
    result = reconciler.reconcile(namespace, "scaler")
    assert result.pruned == [("autoscaling/v2", "HorizontalPodAutoscaler", "scaler")]
    assert kube.get(HPA, namespace, "scaler") is None
    deployment = kube.get(DEPLOYMENT, namespace, "scaler-stable")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    reasons = [e["reason"] for e in kube.list(EVENT, namespace)]
    assert "Pruned" in reasons


def test_prune_leaves_objects_it_does_not_own(kube: Kube, reconciler: Reconciler, namespace: str) -> None:
    """An HPA that only shares our labels (say, copied by hand) is not ours to delete."""
    create_md(kube, namespace, "guard", replicas=1)
    reconciler.reconcile(namespace, "guard")
    foreign = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "guard-manual", "labels": naming.instance_labels("guard")},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "guard-stable"},
            "maxReplicas": 2,
        },
    }
    kube.create(HPA, namespace, foreign)
    assert reconciler.reconcile(namespace, "guard").pruned == []
    assert kube.get(HPA, namespace, "guard-manual") is not None


def test_spec_change_updates_children_and_observed_generation(
    kube: Kube, reconciler: Reconciler, namespace: str
) -> None:
    create_md(kube, namespace, "bump", replicas=1)
    reconciler.reconcile(namespace, "bump")
    first = kube.get(DEPLOYMENT, namespace, "bump-stable")
    assert first is not None
    merge_patch(
        kube, namespace, "bump", {"spec": {"model": {"version": "3", "uri": "http://127.0.0.1:1/v3.onnx"}}}
    )
    reconciler.reconcile(namespace, "bump")
    second = kube.get(DEPLOYMENT, namespace, "bump-stable")
    md = kube.get(MODEL_DEPLOYMENT, namespace, "bump")
    assert second is not None
    assert md is not None
    old_rev = first["metadata"]["annotations"][naming.ANNOTATION_REVISION]
    new_rev = second["metadata"]["annotations"][naming.ANNOTATION_REVISION]
    assert new_rev != old_rev
    init = second["spec"]["template"]["spec"]["initContainers"][0]
    assert init["command"][2] == "http://127.0.0.1:1/v3.onnx"
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"] == 2
    assert md["status"]["stable"]["revision"] == new_rev


def test_child_drift_is_repaired(kube: Kube, reconciler: Reconciler, namespace: str) -> None:
    create_md(kube, namespace, "drift", replicas=2)
    reconciler.reconcile(namespace, "drift")
    kube.request(
        "PATCH",
        SERVICE.path(namespace, "drift"),
        body={"spec": {"selector": {"app": "elsewhere"}}},
        content_type="application/merge-patch+json",
    )
    kube.delete(HPA, namespace, "nothing")  # deleting what is absent is not an error
    reconciler.reconcile(namespace, "drift")
    service = kube.get(SERVICE, namespace, "drift")
    assert service is not None
    assert service["spec"]["selector"][naming.LABEL_INSTANCE] == "drift"


def test_service_monitor_skipped_then_applied_when_its_crd_arrives(
    kube: Kube, reconciler: Reconciler, crd: LocalCluster, namespace: str
) -> None:
    """Without the Prometheus-operator CRD: a condition and a Warning Event, nothing fails.
    With it (the real CRD from the prometheus-operator Go module): the ServiceMonitor is applied."""
    create_md(
        kube, namespace, "watched", replicas=1, monitoring={"serviceMonitor": {"labels": {"release": "prom"}}}
    )
    if not kube.has_api(SERVICE_MONITOR.api_version, SERVICE_MONITOR.plural):
        reconciler.reconcile(namespace, "watched")
        md = kube.get(MODEL_DEPLOYMENT, namespace, "watched")
        assert md is not None
        cond = next(c for c in md["status"]["conditions"] if c["type"] == "ServiceMonitor")
        assert (cond["status"], cond["reason"]) == ("False", "CRDNotInstalled")
        warnings = [e for e in kube.list(EVENT, namespace) if e["type"] == "Warning"]
        assert [e["reason"] for e in warnings] == ["CRDNotInstalled"]
        assert "ServiceMonitor skipped" in warnings[0]["message"]
        install_crd(crd, third_party_crd("prometheus-operator", "monitoring.coreos.com_servicemonitors.yaml"))

    reconciler.reconcile(namespace, "watched")
    sm = kube.get(SERVICE_MONITOR, namespace, "watched")
    assert sm is not None
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"][0]["port"] == "http"
    md = kube.get(MODEL_DEPLOYMENT, namespace, "watched")
    assert md is not None
    cond = next(c for c in md["status"]["conditions"] if c["type"] == "ServiceMonitor")
    assert (cond["status"], cond["reason"]) == ("True", "Applied")

    merge_patch(kube, namespace, "watched", {"spec": {"monitoring": {"serviceMonitor": {"enabled": False}}}})
    result = reconciler.reconcile(namespace, "watched")
    assert ("monitoring.coreos.com/v1", "ServiceMonitor", "watched") in result.pruned
    md = kube.get(MODEL_DEPLOYMENT, namespace, "watched")
    assert md is not None
    assert "ServiceMonitor" not in {c["type"] for c in md["status"]["conditions"]}


def test_per_track_service_monitor_endpoints_are_kept_by_the_real_crd(
    kube: Kube, crd: LocalCluster, namespace: str
) -> None:
    """A canary on another runtime gets its own endpoint with a keep relabeling: the fields must
    survive the real CRD's structural schema (unknown fields would be pruned silently)."""
    if not kube.has_api(SERVICE_MONITOR.api_version, SERVICE_MONITOR.plural):
        install_crd(crd, third_party_crd("prometheus-operator", "monitoring.coreos.com_servicemonitors.yaml"))
    md = create_md(kube, namespace, "mixed", replicas=1)
    owner = Owner("mixed", namespace, md["metadata"]["uid"])
    spec = parse_spec(md["spec"])
    wanted = render_service_monitor(
        owner, spec.monitoring.service_monitor, PROFILES["onnxruntime"], PROFILES["tfserving"]
    )
    kube.apply(wanted)
    live = kube.get(SERVICE_MONITOR, namespace, "mixed")
    assert live is not None
    assert live["spec"]["endpoints"] == wanted["spec"]["endpoints"]
    assert [e["relabelings"][0]["regex"] for e in live["spec"]["endpoints"]] == ["stable", "canary"]


def test_deleted_model_deployment_is_a_no_op(kube: Kube, reconciler: Reconciler, namespace: str) -> None:
    assert reconciler.reconcile(namespace, "never-was").found is False


WIDGETS_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.discovery.glidepath.test
spec:
  group: discovery.glidepath.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_a_missing_crd_the_spec_asks_for_is_rechecked_sooner(
    kube: Kube, crd: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery answers are cached discovery_ttl (60 s here), but a "not installed" for a kind a spec
    asks for (a ServiceMonitor, an HTTPRoute) only MISSING_RECHECK_SECONDS: installing the CRD then
    takes effect at the next reconcile, not a minute later."""
    monkeypatch.setattr(reconcile, "MISSING_RECHECK_SECONDS", 0.5)
    widgets = ResourceType("discovery.glidepath.test/v1", "Widget", "widgets")
    cached = Reconciler(kube, Settings(discovery_ttl=60))
    assert cached.served(widgets) is False
    path = tmp_path / "widgets.yaml"
    path.write_text(WIDGETS_CRD)
    install_crd(crd, path)
    try:
        assert cached.served(widgets) is False  # not wanted: the cached answer stands
        time.sleep(0.6)
        assert cached.served(widgets) is False
        assert cached.served(widgets, wanted=True) is True  # wanted: asked again
        assert cached.served(widgets) is True
    finally:
        crd.kubectl("delete", "-f", str(path), "--wait=true")
