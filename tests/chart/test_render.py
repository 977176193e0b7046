"""The chart rendered by the real helm, without a cluster: lint, schema, single-sourced files, what
each values file produces, the fail-fast checks and the image it runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.support import CHART, CRD_FILE, REPO, Helm, find

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
VALUE_SETS = [pytest.param((), id="default"), *(pytest.param((p,), id=p.stem) for p in CI_VALUES)]


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """{(apiGroup, resource): verbs} of a Role or ClusterRole (resourceNames rules keyed with '#name')."""
    out: dict[tuple[str, str], list[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                suffix = "".join(f"#{n}" for n in rule.get("resourceNames", []))
                out[(group, resource + suffix)] = rule["verbs"]
    return out


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint_passes_strict(helm: Helm, values: tuple[Path, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for v in values:
        args += ["--values", str(v)]
    out = helm.run(*args)
    assert "0 chart(s) failed" in out.stdout
    assert "[ERROR]" not in out.stdout + out.stderr
    assert "Fail:" not in out.stdout + out.stderr  # a `fail` in lint mode is only logged


def test_generated_files_have_not_drifted() -> None:
    """values.schema.json, the README's values table and the chart's CRD copy match their sources."""
    out = subprocess.run(
        [sys.executable, str(REPO / "hack" / "gen_chart.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_kustomize_base_is_the_chart_rendered(helm: Helm) -> None:
    """deploy/base/glidepath.yaml is `helm template` of the chart with default values (make chart)."""
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "hack" / "gen_chart.py"),
            "--check",
            "--deploy",
            "--helm",
            str(helm.binary),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_crd_template_is_the_crd_from_crds_folder(helm: Helm) -> None:
    """One source: the chart's CRD equals crds/…yaml except for Helm's labels and the keep policy."""
    source = yaml.safe_load(CRD_FILE.read_text())
    rendered = find(helm.objects(), "CustomResourceDefinition")
    meta = rendered["metadata"]
    assert meta["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert {k: v for k, v in rendered.items() if k != "metadata"} == {
        k: v for k, v in source.items() if k != "metadata"
    }
    assert meta["name"] == source["metadata"]["name"]
    assert source["metadata"]["labels"].items() <= meta["labels"].items()


def test_crds_enabled_and_keep_gate_the_crd(helm: Helm) -> None:
    no_keep = find(helm.objects(set_values=["crds.keep=false"]), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (no_keep["metadata"].get("annotations") or {})
    assert not [
        o for o in helm.objects(set_values=["crds.enabled=false"]) if o["kind"] == "CustomResourceDefinition"
    ]


def test_kopf_peering_crds_ship_in_the_crds_folder(helm: Helm) -> None:
    crds = [o for o in helm.objects(include_crds=True) if o["kind"] == "CustomResourceDefinition"]
    by_name = {c["metadata"]["name"]: c for c in crds}
    for name, scope in (("clusterkopfpeerings.kopf.dev", "Cluster"), ("kopfpeerings.kopf.dev", "Namespaced")):
        spec = by_name[name]["spec"]
        assert (spec["group"], spec["scope"]) == ("kopf.dev", scope)
        (version,) = spec["versions"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@pytest.mark.parametrize(
    ("set_values", "message"),
    [
        (["bogus=1"], "additional properties 'bogus' not allowed"),
        (["replicas=0"], "minimum"),
        (["image.pullPolicy=Sometimes"], "pullPolicy"),
        (["watchNamespaces[0]=Not_A_Namespace"], "watchNamespaces"),
        (["metrics.serviceMonitor.enabld=true"], "enabld"),
        (["podDisruptionBudget.minAvailable=1", "podDisruptionBudget.maxUnavailable=1"], "not both"),
        (["metrics.enabled=false", "metrics.serviceMonitor.enabled=true"], "serviceMonitor.enabled needs"),
        (["metrics.enabled=false", "prometheusRule.enabled=true"], "prometheusRule.enabled needs"),
        (["metrics.port=8080"], "must differ"),
        (["serviceAccount.create=false"], "serviceAccount.name is required"),
    ],
)
def test_bad_values_are_refused(helm: Helm, set_values: list[str], message: str) -> None:
    args = ["template", "x", str(CHART)]
    for s in set_values:
        args += ["--set", s]
    out = helm.run(*args, check=False)
    assert out.returncode != 0
    assert message in out.stderr


def test_default_install_is_one_standalone_operator(helm: Helm) -> None:
    objs = helm.objects()
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    deployment = find(objs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["glidepath"]
    assert container["args"] == ["run", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert find(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_pod_meets_restricted_pod_security(helm: Helm) -> None:
    """The fields the restricted Pod Security Standard checks (the install test proves admission)."""
    pod = find(helm.objects(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]


def test_replicas_above_one_turn_on_peering(helm: Helm) -> None:
    objs = helm.objects(values=[CHART / "ci" / "ha-values.yaml"])
    deployment = find(objs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--peering=glidepath" in container["args"]
    assert "--standalone" not in container["args"]
    assert container["command"] == ["glidepath"]  # `glidepath run` draws a random peering priority
    assert find(objs, "ClusterKopfPeering", "glidepath")
    rules = rules_of(find(objs, "ClusterRole"))
    assert rules[("kopf.dev", "clusterkopfpeerings")] == ["list", "watch"]
    assert rules[("kopf.dev", "clusterkopfpeerings#glidepath")] == ["get", "patch"]
    assert find(objs, "PodDisruptionBudget")["spec"] == {
        "selector": deployment["spec"]["selector"],
        "minAvailable": 1,
    }


def test_watch_namespaces_switch_to_namespaced_roles(helm: Helm) -> None:
    objs = helm.objects(values=[CHART / "ci" / "namespaced-values.yaml"])
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering")]
    watched = ["glidepath-ci-team-a", "glidepath-ci-team-b"]
    for kind in ("Role", "RoleBinding", "KopfPeering"):
        assert sorted(o["metadata"]["namespace"] for o in objs if o["kind"] == kind) == watched
    role = rules_of(next(o for o in objs if o["kind"] == "Role"))
    assert ("apiextensions.k8s.io", "customresourcedefinitions") not in role
    assert role[("kopf.dev", "kopfpeerings#glidepath")] == ["get", "patch"]
    (container,) = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [a for a in container["args"] if a.startswith("--namespace=")] == [
        f"--namespace={n}" for n in watched
    ]


def test_rbac_rules_have_a_reason_each(helm: Helm) -> None:
    """Each rule of the rendered ClusterRole is preceded by a comment saying why."""
    text = helm.template(values=[CHART / "ci" / "ha-values.yaml"])
    role = text[text.index("kind: ClusterRole\n") :].split("\n---", 1)[0]
    lines = role.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert len(starts) == len(yaml.safe_load(role)["rules"])
    for i in starts:
        assert lines[i - 1].strip().startswith("#"), lines[i]


def test_observability_assets(helm: Helm) -> None:
    objs = helm.objects(values=[CHART / "ci" / "observability-values.yaml"])
    monitor = find(objs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["interval"], endpoint["honorLabels"]) == ("metrics", "15s", True)
    service = find(objs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()

    rule = find(objs, "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "GlidepathRolledBack",
        "GlidepathCanaryAnalysisFailing",
        "GlidepathReconcileErrors",
        "GlidepathModelDeploymentNotReady",
    }
    assert alerts["GlidepathModelDeploymentNotReady"]["for"] == "10m"
    for alert in alerts.values():
        assert alert["labels"]["team"] == "ml-platform"
        assert (
            "{{ $labels" in alert["annotations"]["summary"] or "reconciles" in alert["annotations"]["summary"]
        )

    dashboard_cm = find(objs, "ConfigMap")
    assert dashboard_cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard_cm["metadata"]["annotations"] == {"grafana_folder": "Glidepath"}
    dashboard = json.loads(dashboard_cm["data"]["glidepath.json"])
    assert dashboard["uid"] == "glidepath-modeldeployments"


def test_dashboard_shows_each_model_deployment_by_track() -> None:
    """Rate, error rate and p99 by track from the runtime's metrics; canary weight and phase from the
    operator's; one repeated row per ModelDeployment."""
    dashboard = json.loads((CHART / "files" / "dashboards" / "glidepath.json").read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    row = next(p for p in dashboard["panels"] if p["type"] == "row")
    assert row["repeat"] == "modeldeployment"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["modeldeployment"]["multi"] is True
    exprs = {title: " ".join(t["expr"] for t in p.get("targets", [])) for title, p in panels.items()}
    track = "by (serving_glidepath_io_track)"
    assert "glidepath_inference_requests_total" in exprs["Request rate by track"]
    assert track in exprs["Request rate by track"]
    assert 'code!~"2.."' in exprs["Error rate by track (non-2xx share)"]
    assert "histogram_quantile(0.99" in exprs["p99 latency by track"]
    assert "serving_glidepath_io_track" in exprs["p99 latency by track"]
    assert "glidepath_canary_weight" in exprs["Canary weight"]
    assert "glidepath_model_deployment_phase" in exprs["Phase"]
    for expr in exprs.values():
        assert expr.count("(") == expr.count(")")
        assert re.search(r'model="\$modeldeployment"|name="\$modeldeployment"', expr) or not expr


def test_dockerfile_runs_non_root_as_the_chart_expects(helm: Helm) -> None:
    dockerfile = (REPO / "operator" / "Dockerfile").read_text()
    user = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert user == [("65532", "65532")]
    assert 'ENTRYPOINT ["glidepath"]' in dockerfile
    pod = find(helm.objects(), "Deployment")["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (65532, 65532)
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in src.split():
            assert (REPO / path).exists(), path


def _assets_metrics() -> set[str]:
    rules = (CHART / "templates" / "prometheusrule.yaml").read_text()
    dashboard = (CHART / "files" / "dashboards" / "glidepath.json").read_text()
    names = set(re.findall(r"\bglidepath_[a-z_]+", rules + dashboard))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


OPERATOR_METRICS = REPO / "operator" / "glidepath" / "metrics.py"
RUNTIME_METRICS = REPO / "runtime-images" / "onnxruntime" / "glidepath_runtime" / "metrics.py"


@pytest.mark.parametrize("metric", sorted(_assets_metrics()))
def test_operator_exports_what_the_assets_read(metric: str) -> None:
    """Every metric the PrometheusRule and the dashboard query is defined by the operator or the runtime."""
    sources = OPERATOR_METRICS.read_text() + RUNTIME_METRICS.read_text()
    assert f'"{metric}"' in sources
