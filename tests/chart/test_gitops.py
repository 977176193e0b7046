"""GitOps guarantees, with the chart's operator running as its ServiceAccount:

- in steady state, re-applying the user's own manifest changes nothing (what Argo CD's diff shows),
  with client-side `kubectl apply` and with server-side apply as Argo CD does it
  (`--field-manager=argocd-controller`);
- the user's field manager still owns every spec field it wrote: glidepath writes only status (and
  annotations of its own) on the ModelDeployment;
- a Deployment scaled by an HPA keeps the HPA's replica count through reconciles and re-applies.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from typing import Any

import pytest

from tests.chart.conftest import Release
from tests.chart.support import get_json
from tests.support.cluster import wait_for

USER_MANAGERS = {"client-side": "kubectl-client-side-apply", "server-side": "argocd-controller"}
SPEC: dict[str, Any] = {
    "model": {"uri": "http://127.0.0.1:1/fraud/3/model.onnx", "version": "3"},
    "replicas": 2,
    "runtime": {
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
    },
    "monitoring": {
        "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prometheus"}}
    },
}


def manifest(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "serving.glidepath.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "fraud"}},
        "spec": spec,
    }


def user_kubectl(
    release: Release, verb: str, mode: str, body: dict[str, Any], *extra: str
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply|diff` of the user's manifest, client-side or server-side as Argo CD."""
    args = [verb]
    if mode == "server-side":
        args += ["--server-side", f"--field-manager={USER_MANAGERS[mode]}"]
    return release.cluster.kubectl(*args, *extra, "-f", "-", stdin=json.dumps(body), check=verb == "apply")


def reconciles(release: Release) -> float:
    """glidepath_reconcile_total of the operator (all results), from its /metrics."""
    url = f"http://127.0.0.1:{release.operator.host_port('metrics')}/metrics"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(v) for v in re.findall(r"^glidepath_reconcile_total\{[^}]*\} (\S+)$", text, re.M))


def wait_steady(release: Release, namespace: str, name: str, phase: str = "Healthy") -> dict[str, Any]:
    """Wait until the ModelDeployment is in ``phase`` for its current generation and stops changing."""
    last: dict[str, str] = {}

    def steady() -> dict[str, Any] | None:
        md = get_json(release.cluster, "md", name, "-n", namespace)
        status = md.get("status") or {}
        fresh = (
            status.get("observedGeneration") == md["metadata"]["generation"] and status.get("phase") == phase
        )
        rv = md["metadata"]["resourceVersion"]
        same = last.get("rv") == rv
        last["rv"] = rv
        return md if fresh and same else None

    return wait_for(steady, timeout=90, interval=1.5, what=f"{namespace}/{name} steady in {phase}")


def owned_paths(fields: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every path in a managedFields fieldsV1 tree (``f:spec``, ``f:spec/f:model``, ...)."""
    out: set[tuple[str, ...]] = set()
    for key, sub in fields.items():
        if key == ".":
            continue
        path = (*prefix, key)
        out.add(path)
        out |= owned_paths(sub, path)
    return out


def written_paths(value: Any, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The fieldsV1 paths of what a manifest sets: map keys as f:key; lists as a whole."""
    out: set[tuple[str, ...]] = set()
    if isinstance(value, dict):
        for key, sub in value.items():
            path = (*prefix, f"f:{key}")
            out.add(path)
            if isinstance(sub, dict):
                out |= written_paths(sub, path)
    return out


def assert_user_owns_spec(md: dict[str, Any], manager: str, spec: dict[str, Any]) -> None:
    """The user's manager owns every spec field it wrote; no other manager owns any spec field, and
    other managers touch metadata only in glidepath's (or kopf's) own keys."""
    entries = md["metadata"]["managedFields"]
    mine = [e for e in entries if e["manager"] == manager]
    assert mine, [e["manager"] for e in entries]
    owned = set().union(*(owned_paths(e["fieldsV1"]) for e in mine))
    missing = written_paths(spec, ("f:spec",)) - owned
    assert not missing, f"{manager} lost {sorted(missing)}"
    for entry in entries:
        if entry["manager"] == manager:
            continue
        fields = entry["fieldsV1"]
        assert "f:spec" not in fields, entry
        for key, sub in (fields.get("f:metadata") or {}).items():
            if key == "f:annotations":
                assert all(k.startswith("f:serving.glidepath.io/") for k in sub if k != "."), entry
            else:
                assert key == "f:finalizers", entry
        if "f:status" in fields:
            assert entry.get("subresource") == "status", entry
            assert entry["manager"] == "glidepath", entry


@pytest.mark.parametrize("mode", ["client-side", "server-side"])
def test_steady_state_reapply_reports_no_change(release: Release, namespace: str, mode: str) -> None:
    body = manifest(namespace, "fraud", SPEC)
    user_kubectl(release, "apply", mode, body)
    md = wait_steady(release, namespace, "fraud")

    diff = user_kubectl(release, "diff", mode, body)
    assert (diff.returncode, diff.stdout) == (0, ""), diff.stdout + diff.stderr
    dry = json.loads(
        user_kubectl(
            release, "apply", mode, body, "--dry-run=server", "-o", "json", "--show-managed-fields"
        ).stdout
    )
    assert dry["metadata"]["generation"] == md["metadata"]["generation"]
    assert dry["spec"] == md["spec"]
    assert dry["metadata"]["managedFields"] == md["metadata"]["managedFields"]

    user_kubectl(release, "apply", mode, body)  # for real: a no-op writes nothing
    after = get_json(release.cluster, "md", "fraud", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == md["metadata"]["resourceVersion"]
    assert_user_owns_spec(after, USER_MANAGERS[mode], SPEC)


def test_user_keeps_ownership_through_spec_changes(release: Release, namespace: str) -> None:
    """Argo CD syncs a new model version; glidepath reconciles; the spec is still all the user's."""
    body = manifest(namespace, "fraud", SPEC)
    user_kubectl(release, "apply", "server-side", body)
    wait_steady(release, namespace, "fraud")
    new_spec = {
        **SPEC,
        "model": {**SPEC["model"], "version": "4", "uri": "http://127.0.0.1:1/fraud/4/model.onnx"},
    }
    user_kubectl(release, "apply", "server-side", manifest(namespace, "fraud", new_spec))
    md = wait_steady(release, namespace, "fraud")
    assert md["status"]["stable"]["version"] == "4"
    assert_user_owns_spec(md, "argocd-controller", new_spec)
    diff = user_kubectl(release, "diff", "server-side", manifest(namespace, "fraud", new_spec))
    assert diff.returncode == 0, diff.stdout


def deployment_replicas(release: Release, namespace: str) -> int:
    return int(get_json(release.cluster, "deployment", "scaled-stable", "-n", namespace)["spec"]["replicas"])


def test_hpa_replica_count_survives_reconciles_and_reapplies(release: Release, namespace: str) -> None:
    """The real HPA controller raises the Deployment to minReplicas; then the HPA's scale (written
    through the scale subresource, as the HPA controller does) persists through re-applies of the
    user's manifest, a spec change that rolls the pods, and reconciles."""
    spec = {**SPEC, "autoscaling": {"minReplicas": 2, "maxReplicas": 6}}
    del spec["replicas"]
    body = manifest(namespace, "scaled", spec)
    user_kubectl(release, "apply", "server-side", body)
    wait_for(
        lambda: deployment_replicas(release, namespace) == 2,
        timeout=60,
        interval=0.5,
        what="the HPA controller to scale to minReplicas",
    )
    deployment = get_json(release.cluster, "deployment", "scaled-stable", "-n", namespace)
    glidepath = next(e for e in deployment["metadata"]["managedFields"] if e["manager"] == "glidepath")
    assert "f:replicas" not in glidepath["fieldsV1"]["f:spec"]

    # The HPA decides 4 (no metrics-server here, so it would not move on its own; it keeps 4 too).
    release.cluster.kubectl(
        "patch",
        "deployment",
        "scaled-stable",
        "-n",
        namespace,
        "--subresource=scale",
        "--type=merge",
        "-p",
        '{"spec": {"replicas": 4}}',
        "--field-manager=horizontal-pod-autoscaler",
    )
    rolled = {
        **spec,
        "runtime": {**spec["runtime"], "env": [*spec["runtime"]["env"], {"name": "X", "value": "1"}]},
    }
    steps = [
        ("client-side", body),
        ("server-side", body),
        ("server-side", manifest(namespace, "scaled", rolled)),
    ]
    for i, (mode, step_body) in enumerate(steps):
        before = reconciles(release)
        user_kubectl(release, "apply", mode, step_body)
        release.cluster.kubectl(
            "annotate", "--overwrite", "md", "scaled", "-n", namespace, f"example.com/nudge={i}"
        )
        wait_for(lambda: reconciles(release) > before, timeout=30, what="a reconcile")  # noqa: B023
        time.sleep(0.5)
        assert deployment_replicas(release, namespace) == 4, (mode, i)

    md = wait_steady(release, namespace, "scaled")
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"]
    deployment = get_json(release.cluster, "deployment", "scaled-stable", "-n", namespace)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "X", "value": "1"} in env  # the spec change reached the pods
    assert deployment["spec"]["replicas"] == 4
    hpa = get_json(release.cluster, "hpa", "scaled", "-n", namespace)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
