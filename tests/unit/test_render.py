"""Pure renderers: golden manifests and table-driven checks (as KServe's TestCreateHPA)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from glidepath import naming
from glidepath.api import ModelDeploymentSpec, PodSource, parse_spec
from glidepath.plan import Plan, TrackPlan
from glidepath.render import Manifest, Owner, RenderConfig, render, revision_for

GOLDEN = Path(__file__).parent / "golden"
OWNER = Owner(name="fraud", namespace="ml", uid="0b5c6d2e-0000-4000-8000-000000000001")
SHA = "3f" * 32


def _spec(**extra: Any) -> Any:
    if "model" in extra:
        return parse_spec(extra)
    return parse_spec(
        {
            "model": {"uri": "https://models.example/fraud/3/model.onnx", "version": "3", "sha256": SHA},
            **extra,
        }
    )


def _stable(spec: ModelDeploymentSpec, config: RenderConfig) -> TrackPlan:
    source = PodSource.of(spec)
    return TrackPlan(source, revision_for(OWNER, source, config), spec.fixed_replicas)


def _render(
    spec: ModelDeploymentSpec, config: RenderConfig | None = None, plan: Plan | None = None
) -> list[Manifest]:
    config = config or RenderConfig()
    return render(OWNER, spec, plan or Plan(_stable(spec, config)), config)


def _revision(spec: ModelDeploymentSpec) -> str:
    return revision_for(OWNER, PodSource.of(spec), RenderConfig())


def _by_kind(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


TF = {
    "model": {
        "uri": "s3://models/fraud/7/",
        "version": "7",
        "format": "tensorflow",
        "secretRef": {"name": "s3-creds"},
    },
    "runtime": {"name": "tfserving", "resources": {"limits": {"cpu": "1500m", "memory": "2Gi"}}},
}


@pytest.mark.parametrize(
    ("name", "extra", "config"),
    [
        ("tfserving", {**TF, "model": TF["model"]}, RenderConfig(service_monitor_supported=True)),
        ("fixed-replicas", {"replicas": 2}, RenderConfig(service_monitor_supported=True)),
        (
            "autoscaling-no-servicemonitor-crd",
            {
                "autoscaling": {"minReplicas": 2, "maxReplicas": 10},
                "runtime": {"resources": {"limits": {"cpu": 2}}},
            },
            RenderConfig(service_monitor_supported=False),
        ),
    ],
)
def test_golden(name: str, extra: dict[str, Any], config: RenderConfig) -> None:
    """The whole output, reviewed once; regenerate with GLIDEPATH_UPDATE_GOLDEN=1."""
    text = yaml.safe_dump_all(_render(_spec(**extra), config), sort_keys=True)
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("GLIDEPATH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_every_child_is_owned_and_labelled() -> None:
    manifests = _render(_spec(autoscaling={"maxReplicas": 3}), RenderConfig(service_monitor_supported=True))
    assert [m["kind"] for m in manifests] == [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
    ]
    for m in manifests:
        meta = m["metadata"]
        assert meta["namespace"] == "ml"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "serving.glidepath.io/v1alpha1",
                "kind": "ModelDeployment",
                "name": "fraud",
                "uid": OWNER.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        for key in (naming.LABEL_NAME, naming.LABEL_INSTANCE, naming.LABEL_MANAGED_BY, naming.LABEL_TRACK):
            assert key in meta["labels"], (m["kind"], key)
        assert meta["labels"][naming.LABEL_MANAGED_BY] == "glidepath"


@pytest.mark.parametrize(
    ("extra", "replicas"),
    [({}, 1), ({"replicas": 0}, 0), ({"replicas": 4}, 4), ({"autoscaling": {"maxReplicas": 3}}, None)],
)
def test_replicas_are_omitted_when_an_hpa_scales(extra: dict[str, Any], replicas: int | None) -> None:
    deployment = _by_kind(_render(_spec(**extra), RenderConfig()))["Deployment"]
    assert deployment["spec"].get("replicas") == replicas
    assert ("replicas" in deployment["spec"]) is (replicas is not None)


def test_hpa_targets_the_stable_deployment_with_default_cpu_metric() -> None:
    hpa = _by_kind(_render(_spec(autoscaling={"minReplicas": 2, "maxReplicas": 7}), RenderConfig()))[
        "HorizontalPodAutoscaler"
    ]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud-stable",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 7)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_custom_hpa_metrics_pass_through() -> None:
    metric = {
        "type": "Pods",
        "pods": {"metric": {"name": "inflight"}, "target": {"type": "AverageValue", "averageValue": "4"}},
    }
    hpa = _by_kind(_render(_spec(autoscaling={"maxReplicas": 3, "metrics": [metric]}), RenderConfig()))[
        "HorizontalPodAutoscaler"
    ]
    assert hpa["spec"]["metrics"] == [metric]


def test_pod_is_restricted_and_runs_fetcher_then_runtime() -> None:
    deployment = _by_kind(_render(_spec(), RenderConfig(runtime_image="img:1")))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    (runtime,) = pod["containers"]
    assert fetch["command"] == [
        "glidepath-runtime",
        "fetch",
        "https://models.example/fraud/3/model.onnx",
        "/mnt/models",
        "--sha256",
        SHA,
    ]
    assert runtime["command"] == [
        "glidepath-runtime",
        "serve",
        "--model-name",
        "fraud",
        "--model-dir",
        "/mnt/models",
        "--model-version",
        "3",
        "--http-port",
        "8080",
    ]
    assert fetch["image"] == runtime["image"] == "img:1"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in (fetch, runtime):
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
    assert runtime["readinessProbe"]["httpGet"] == {"path": "/v2/models/fraud/ready", "port": "http"}
    assert runtime["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert {"name": "model", "mountPath": "/mnt/models", "readOnly": True} in runtime["volumeMounts"]


def test_image_override_and_env() -> None:
    spec = _spec(runtime={"image": "mine:2", "env": [{"name": "OMP_NUM_THREADS", "value": "1"}]})
    runtime = _by_kind(_render(spec, RenderConfig()))["Deployment"]["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert runtime["image"] == "mine:2"
    assert runtime["env"] == [{"name": "OMP_NUM_THREADS", "value": "1"}]


def test_revision_changes_with_the_model_and_nothing_else() -> None:
    base = _revision(_spec())
    assert _revision(_spec()) == base
    assert _revision(_spec(replicas=5)) == base  # scaling is not a new revision
    assert _revision(_spec(monitoring={"serviceMonitor": {"enabled": False}})) == base
    assert _revision(_spec(rollout={"steps": [{"weight": 10}]})) == base
    v4 = parse_spec({"model": {"uri": "https://models.example/fraud/4/model.onnx", "version": "4"}})
    assert _revision(v4) != base
    assert _revision(_spec(runtime={"env": [{"name": "X", "value": "1"}]})) != base


@pytest.mark.parametrize(
    ("enabled", "supported", "present"),
    [
        (True, True, True),
        (True, False, False),
        (False, True, False),
        (False, False, False),
    ],
)
def test_service_monitor_only_when_wanted_and_installed(
    enabled: bool, supported: bool, present: bool
) -> None:
    spec = _spec(monitoring={"serviceMonitor": {"enabled": enabled, "labels": {"release": "prom"}}})
    kinds = _by_kind(_render(spec, RenderConfig(service_monitor_supported=supported)))
    assert ("ServiceMonitor" in kinds) is present
    if present:
        sm = kinds["ServiceMonitor"]
        assert sm["metadata"]["labels"]["release"] == "prom"
        assert sm["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
        assert set(sm["spec"]["podTargetLabels"]) == {naming.LABEL_TRACK, naming.LABEL_REVISION}


def test_service_selects_every_track() -> None:
    service = _by_kind(_render(_spec(), RenderConfig()))["Service"]
    assert service["spec"]["selector"] == {
        naming.LABEL_INSTANCE: "fraud",
        naming.LABEL_MANAGED_BY: "glidepath",
    }
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 9000, "targetPort": "grpc", "protocol": "TCP"},
    ]


def _canary_plan(spec: ModelDeploymentSpec, replicas: int, weight: int) -> Plan:
    v2 = parse_spec({"model": {"uri": "https://models.example/fraud/4/model.onnx", "version": "4"}})
    source = PodSource.of(v2)
    return Plan(_stable(spec, RenderConfig()), TrackPlan(source, _revision(v2), replicas), weight)


def test_canary_track_runs_the_new_source_beside_stable() -> None:
    spec = _spec(replicas=4)
    manifests = _render(spec, plan=_canary_plan(spec, 1, 25))
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    assert set(deployments) == {"fraud-stable", "fraud-canary"}
    canary = deployments["fraud-canary"]
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["selector"]["matchLabels"][naming.LABEL_TRACK] == "canary"
    assert canary["spec"]["template"]["metadata"]["labels"][naming.LABEL_TRACK] == "canary"
    assert canary["spec"]["template"]["spec"]["initContainers"][0]["command"][2].endswith("/4/model.onnx")
    assert deployments["fraud-stable"]["spec"]["template"]["spec"]["initContainers"][0]["command"][
        2
    ].endswith("/3/model.onnx")
    # mode replicas: no per-track Services, no HTTPRoute; the shared Service selects both tracks
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Service"] == ["fraud"]
    assert not any(m["kind"] == "HTTPRoute" for m in manifests)


def test_gateway_api_mode_weights_per_track_services() -> None:
    traffic = {
        "mode": "gatewayAPI",
        "parentRefs": [{"name": "public", "namespace": "gw"}],
        "hostnames": ["fraud.example"],
    }
    spec = _spec(replicas=2, rollout={"traffic": traffic, "steps": [{"weight": 30}]})
    config = RenderConfig(http_route_supported=True)
    manifests = render(OWNER, spec, _canary_plan(spec, 1, 30), config)
    services = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Service"}
    assert set(services) == {"fraud", "fraud-stable", "fraud-canary"}
    assert services["fraud-canary"]["spec"]["selector"][naming.LABEL_TRACK] == "canary"
    (route,) = [m for m in manifests if m["kind"] == "HTTPRoute"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gw"}]
    assert route["spec"]["hostnames"] == ["fraud.example"]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": "fraud-stable", "port": 8080, "weight": 70},
        {"name": "fraud-canary", "port": 8080, "weight": 30},
    ]
    steady = render(OWNER, spec, Plan(_stable(spec, config)), config)
    (route,) = [m for m in steady if m["kind"] == "HTTPRoute"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "fraud-stable", "port": 8080, "weight": 100}]
    unsupported = render(OWNER, spec, Plan(_stable(spec, config)), RenderConfig())
    assert not any(m["kind"] == "HTTPRoute" for m in unsupported)


def test_tfserving_pod_config_and_monitoring() -> None:
    spec = parse_spec(TF)
    manifests = _render(spec, RenderConfig(service_monitor_supported=True, tfserving_image="tfs:1"))
    kinds = [m["kind"] for m in manifests]
    assert kinds[:2] == ["ConfigMap", "Deployment"]
    config_map = manifests[0]
    assert config_map["metadata"]["name"] == "fraud-stable-tfserving"
    assert set(config_map["data"]) == {"models.config", "monitoring.config"}
    assert 'base_path: "/mnt/models"' in config_map["data"]["models.config"]
    assert "versions: 7" in config_map["data"]["models.config"]
    pod = manifests[1]["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    (runtime,) = pod["containers"]
    assert fetch["command"] == [
        "glidepath-runtime",
        "fetch",
        "s3://models/fraud/7/",
        "/mnt/models",
        "--format",
        "tensorflow",
        "--version",
        "7",
    ]
    assert fetch["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert "envFrom" not in runtime  # credentials reach the fetcher only
    assert runtime["image"] == "tfs:1"
    assert runtime["command"][0] == "tensorflow_model_server"
    assert "--port=8500" in runtime["command"]
    assert "--rest_api_port=8501" in runtime["command"]
    assert "--tensorflow_intra_op_parallelism=2" in runtime["command"]  # ceil(1.5 cores)
    assert {p["name"]: p["containerPort"] for p in runtime["ports"]} == {"http": 8501, "grpc": 8500}
    # the version's metadata needs the loaded servable; /v1/models/fraud answers 200 while loading
    assert runtime["readinessProbe"]["httpGet"] == {
        "path": "/v1/models/fraud/versions/7/metadata",
        "port": "http",
    }
    assert runtime["livenessProbe"]["httpGet"] == {"path": "/v1/models/fraud", "port": "http"}
    assert {"name": "tfserving-config", "configMap": {"name": "fraud-stable-tfserving"}} in pod["volumes"]
    sm = next(m for m in manifests if m["kind"] == "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["path"] == "/monitoring/prometheus/metrics"


def test_pvc_model_is_mounted_read_only_at_one_path_in_fetcher_and_runtime() -> None:
    """The fetcher links the model from the claim into the model directory (served in place), so the
    runtime must see the claim at the same path, read-only."""
    spec = parse_spec({"model": {"uri": "pvc://model-store/fraud/model.onnx"}})
    pod = _by_kind(_render(spec))["Deployment"]["spec"]["template"]["spec"]
    assert {
        "name": "model-pvc",
        "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True},
    } in pod["volumes"]
    mount = {"name": "model-pvc", "mountPath": "/mnt/pvc/model-store", "readOnly": True}
    assert mount in pod["initContainers"][0]["volumeMounts"]
    assert mount in pod["containers"][0]["volumeMounts"]
    assert pod["initContainers"][0]["command"][2] == "pvc://model-store/fraud/model.onnx"


def test_tfserving_config_change_is_a_new_revision() -> None:
    base = _revision(parse_spec(TF))
    other = {**TF, "model": {**TF["model"], "version": "8"}}
    assert _revision(parse_spec(other)) != base


def test_a_canary_on_another_runtime_is_scraped_at_its_own_metrics_path() -> None:
    config = RenderConfig(service_monitor_supported=True)
    onnx = _spec(monitoring={"serviceMonitor": {"enabled": True}})
    tf = parse_spec({**TF, "monitoring": {"serviceMonitor": {"enabled": True}}})
    canary_source = PodSource.of(tf)
    plan = Plan(
        _stable(onnx, config), TrackPlan(canary_source, revision_for(OWNER, canary_source, config), 1)
    )
    monitor = _by_kind(render(OWNER, onnx, plan, config))["ServiceMonitor"]
    meta_label = "__meta_kubernetes_pod_label_serving_glidepath_io_track"
    assert monitor["spec"]["endpoints"] == [
        {
            "port": "http",
            "path": path,
            "interval": "15s",
            "relabelings": [{"sourceLabels": [meta_label], "regex": track, "action": "keep"}],
        }
        for track, path in (("stable", "/metrics"), ("canary", "/monitoring/prometheus/metrics"))
    ]
    same = Plan(_stable(onnx, config), TrackPlan(PodSource.of(onnx), "other", 1))  # one runtime: one endpoint
    (endpoint,) = _by_kind(render(OWNER, onnx, same, config))["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint == {"port": "http", "path": "/metrics", "interval": "15s"}
