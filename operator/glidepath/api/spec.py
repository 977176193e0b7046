"""ModelDeployment ``spec``: what the user asks for. The CRD schema in ``crds/`` is generated from here.

Validation happens twice with the same rules: the API server enforces the generated OpenAPI schema
and CEL rules (``x-kubernetes-validations``) at admission, so an invalid object is refused with a
message naming the field; :func:`parse_spec` re-checks in Python and raises :class:`SpecError`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from glidepath.api.base import ApiModel

SHA256_RE = re.compile(r"^[a-f0-9]{64}$")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
URI_PATTERN = r"^(https?|file|s3|gs|pvc)://.+$"
#: A URI whose authority carries ``user[:password]@``: credentials belong in a Secret (secretRef).
URI_USERINFO_RE = re.compile(r"^[a-z0-9]+://[^/?#]*@")
URI_USERINFO_MESSAGE = (
    "uri must not carry credentials (user:password@host): they would show in the pod spec and status; "
    "put them in the Secret named by secretRef (GLIDEPATH_HTTP_HEADERS for http(s))"
)
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"

Quantity = Annotated[
    int | str,
    Field(
        description="A Kubernetes resource quantity, e.g. 500m, 2, 1Gi.", json_schema_extra={"maxLength": 64}
    ),
]


def _cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry (a CEL rule evaluated by the API server)."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


class SpecError(ValueError):
    """A spec that does not validate. ``field`` is the dotted path (``spec.model.sha256``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SecretReference(ApiModel):
    """A Secret in the ModelDeployment's namespace."""

    name: str = Field(
        description="Name of the Secret.",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
    )


class ModelSource(ApiModel):
    """``spec.model``: where the model is, what it is, and how to check it."""

    uri: str = Field(
        description=(
            "Where the model is: https://host/path/model.onnx, s3://bucket/key, gs://bucket/key, "
            "pvc://claim/path (the claim is mounted read-only and the model served in place, not copied; "
            "an archive is unpacked into the pod), file:///path. A key or path ending in / is a directory "
            "fetched recursively; .tar.gz, .tgz, .tar and .zip are unpacked. Credentials never go in the "
            "URI: see secretRef. The fetcher init container puts it into the pod (or verifies it on the "
            "claim) before the runtime starts."
        ),
        min_length=1,
        max_length=2048,
        pattern=URI_PATTERN,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("!self.matches('" + URI_USERINFO_RE.pattern + "')", URI_USERINFO_MESSAGE)
            ]
        },
    )
    version: str = Field(
        default="1",
        description="The model's version as reported by the runtime (V2 model metadata). Default 1.",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
    )
    sha256: str | None = Field(
        default=None,
        description=(
            "Lowercase hex SHA-256 of the model file, or for a directory (a prefix, an archive, a "
            "claim path) the digest over its sorted file list that the README documents. When set, the "
            "fetcher refuses a model whose digest differs and the pod does not start."
        ),
        max_length=64,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.matches('^[a-f0-9]{64}$')",
                    "sha256 must be 64 lowercase hexadecimal characters",
                )
            ]
        },
    )
    format: Literal["onnx", "tensorflow"] = Field(
        default="onnx",
        description="onnx (runtime onnxruntime) or tensorflow, a SavedModel (runtime tfserving). Default onnx.",
    )
    secret_ref: SecretReference | None = Field(
        default=None,
        description=(
            "Secret whose keys become the fetcher's environment (never the runtime's): for s3 "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; for gs "
            "GOOGLE_APPLICATION_CREDENTIALS_JSON, STORAGE_EMULATOR_HOST; for http(s) GLIDEPATH_HTTP_HEADERS "
            "(a JSON object of headers)."
        ),
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.format) || self.format != 'tensorflow' || self.version.matches('^[0-9]+$')",
                    "a tensorflow model's version must be a number: TF Serving loads <base>/<version>/",
                    ".version",
                )
            ]
        }
    )

    @model_validator(mode="after")
    def _numeric_tf_version(self) -> ModelSource:
        if self.format == "tensorflow" and not self.version.isdigit():
            raise ValueError(
                "a tensorflow model's version must be a number: TF Serving loads <base>/<version>/"
            )
        return self

    @field_validator("uri")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if URI_USERINFO_RE.match(value):
            raise ValueError(URI_USERINFO_MESSAGE)
        return value

    @field_validator("sha256")
    @classmethod
    def _check_sha256(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_RE.match(value):
            raise ValueError("sha256 must be 64 lowercase hexadecimal characters")
        return value


class EnvVar(ApiModel):
    """One environment variable of the runtime container (``core/v1 EnvVar``)."""

    name: str = Field(description="Variable name.", min_length=1, max_length=256, pattern=ENV_NAME_PATTERN)
    value: str | None = Field(default=None, description="Literal value.")
    value_from: dict[str, Any] | None = Field(
        default=None,
        description="Source of the value (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef).",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!(has(self.value) && has(self.valueFrom))", "value and valueFrom are mutually exclusive"
                )
            ]
        }
    )

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom are mutually exclusive")
        return self


_QUANTITY_RULE = _cel(
    "self.all(k, type(self[k]) == int ? self[k] >= 0 : isQuantity(string(self[k])))",
    "every value must be a resource quantity such as 500m, 2 or 1Gi",
)


class ResourceRequirements(ApiModel):
    """Compute resources of the runtime container (``core/v1 ResourceRequirements``)."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        description="Minimum resources, e.g. {cpu: 500m, memory: 512Mi}.",
        max_length=16,
        json_schema_extra={"x-kubernetes-validations": [_QUANTITY_RULE]},
    )
    limits: dict[str, Quantity] | None = Field(
        default=None,
        description="Maximum resources, e.g. {cpu: 2, memory: 1Gi}.",
        max_length=16,
        json_schema_extra={"x-kubernetes-validations": [_QUANTITY_RULE]},
    )


class RuntimeSpec(ApiModel):
    """``spec.runtime``: the model server that runs the model."""

    name: Literal["onnxruntime", "tfserving"] = Field(
        default="onnxruntime",
        description="Which runtime serves the model. onnxruntime: Glidepath's ONNX Runtime server (Open "
        "Inference Protocol and TF Serving REST on port 8080), for format onnx. tfserving: TensorFlow "
        "Serving (REST 8501, gRPC 8500), for format tensorflow. Default onnxruntime.",
    )
    image: str | None = Field(
        default=None,
        description="Override the runtime image (default: the image the operator is configured with).",
        min_length=1,
        max_length=512,
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Compute resources of the runtime container."
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables of the runtime container.",
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("env")
    @classmethod
    def _unique_env(cls, value: list[EnvVar]) -> list[EnvVar]:
        names = [e.name for e in value]
        if len(names) != len(set(names)):
            raise ValueError("env names must be unique")
        return value


class AutoscalingSpec(ApiModel):
    """``spec.autoscaling``: a HorizontalPodAutoscaler (autoscaling/v2) scales the stable track."""

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Lower bound of replicas. Default 1.")
    max_replicas: int = Field(ge=1, le=1000, description="Upper bound of replicas.")
    metrics: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "autoscaling/v2 MetricSpec entries, passed to the HPA as written. "
            "Default: average CPU utilization 80%."
        ),
        max_length=16,
        json_schema_extra={
            "items": {
                "type": "object",
                "required": ["type"],
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "type": {
                        "type": "string",
                        "enum": ["Resource", "Pods", "Object", "External", "ContainerResource"],
                        "description": "The metric source type.",
                    }
                },
            }
        },
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    "minReplicas must be less than or equal to maxReplicas",
                    ".minReplicas",
                )
            ]
        }
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be less than or equal to maxReplicas")
        return self


class ServiceMonitorSpec(ApiModel):
    """``spec.monitoring.serviceMonitor``: a Prometheus-operator ServiceMonitor for the runtime."""

    enabled: bool = Field(
        default=True,
        description="Create a ServiceMonitor when the monitoring.coreos.com CRD is installed. Default true.",
    )
    interval: str = Field(
        default="15s",
        description="Scrape interval (a duration: 15s, 1m). Default 15s.",
        pattern=DURATION_PATTERN,
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels on the ServiceMonitor, e.g. the one your Prometheus selects.",
        max_length=32,
    )


class MonitoringSpec(ApiModel):
    """``spec.monitoring``: how the model's metrics are scraped."""

    service_monitor: ServiceMonitorSpec = Field(
        default_factory=ServiceMonitorSpec, description="The ServiceMonitor for the runtime's /metrics."
    )


BUILTIN_METRICS = ("error-rate", "latency-p99")
"""Analysis metrics the operator knows how to query without a ``query``."""


class RolloutStep(ApiModel):
    """One canary step: send ``weight`` percent of traffic to the canary, then wait ``pause``."""

    weight: int = Field(
        ge=1, le=100, description="Percent of traffic for the canary during this step, 1-100."
    )
    pause: str | None = Field(
        default=None,
        description="How long to hold this step (a duration: 30s, 2m, 1h). Absent: wait for `glidepath promote`.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )


class AnalysisMetric(ApiModel):
    """A figure checked against thresholds every analysis interval while a step runs."""

    name: str = Field(
        description="error-rate (fraction of non-2xx inference responses of the canary), latency-p99 "
        "(seconds), or any name with a `query`.",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    )
    query: str | None = Field(
        default=None,
        description="PromQL returning one number, as a Jinja2 template with the variables name, namespace, "
        "track and interval (e.g. {{ interval }} inside a range selector). Required for a name that is not built in.",
        min_length=1,
        max_length=4096,
    )
    min: float | None = Field(default=None, description="The check fails when the value is below this.")
    max: float | None = Field(default=None, description="The check fails when the value is above this.")

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.min) || has(self.max)", "a metric needs min, max or both"),
                _cel(
                    "self.name == 'error-rate' || self.name == 'latency-p99' || has(self.query)",
                    "a metric other than error-rate and latency-p99 needs a query",
                ),
            ]
        }
    )

    @model_validator(mode="after")
    def _thresholds(self) -> AnalysisMetric:
        if self.min is None and self.max is None:
            raise ValueError("a metric needs min, max or both")
        if self.name not in BUILTIN_METRICS and self.query is None:
            raise ValueError("a metric other than error-rate and latency-p99 needs a query")
        return self


class PrometheusSpec(ApiModel):
    """Where the analysis queries go."""

    address: str = Field(
        description="Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.",
        pattern=r"^https?://.+$",
        max_length=512,
    )


class AnalysisSpec(ApiModel):
    """``spec.rollout.analysis``: metric checks that can fail a canary."""

    interval: str = Field(
        default="1m",
        description="How often to check, and the range of the rate() windows (a duration). Default 1m.",
        pattern=DURATION_PATTERN,
        max_length=32,
    )
    failure_limit: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Failed checks tolerated; one more rolls the canary back. Default 0.",
    )
    prometheus: PrometheusSpec | None = Field(
        default=None,
        description="Prometheus to query (default: the operator's GLIDEPATH_PROMETHEUS_URL setting).",
    )
    metrics: list[AnalysisMetric] = Field(
        min_length=1,
        max_length=16,
        description="The checks. Data missing is inconclusive: it neither fails nor lets a step pass.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class TrafficSpec(ApiModel):
    """``spec.rollout.traffic``: how traffic is split between stable and canary."""

    mode: Literal["replicas", "gatewayAPI"] = Field(
        default="replicas",
        description="replicas: one Service selects both tracks and the split follows the ready pod counts "
        "(approximate weights, no mesh needed). gatewayAPI: per-track Services and an HTTPRoute with "
        "exact weights. Default replicas.",
    )
    parent_refs: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=16,
        description="gatewayAPI: the HTTPRoute's parentRefs (gateway.networking.k8s.io/v1 ParentReference).",
        json_schema_extra={
            "items": {
                "type": "object",
                "required": ["name"],
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"name": {"type": "string", "description": "Name of the Gateway."}},
            }
        },
    )
    hostnames: list[Annotated[str, Field(max_length=253)]] = Field(
        default_factory=list, max_length=16, description="gatewayAPI: the HTTPRoute's hostnames."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.mode != 'gatewayAPI' || (has(self.parentRefs) && size(self.parentRefs) > 0)",
                    "mode gatewayAPI needs at least one parentRef",
                    ".parentRefs",
                )
            ]
        }
    )

    @model_validator(mode="after")
    def _gateway_needs_parent(self) -> TrafficSpec:
        if self.mode == "gatewayAPI" and not self.parent_refs:
            raise ValueError("mode gatewayAPI needs at least one parentRef")
        return self


class RolloutSpec(ApiModel):
    """``spec.rollout``: how a new revision goes out. Without steps it replaces the stable track at once."""

    steps: list[RolloutStep] = Field(
        default_factory=list,
        max_length=20,
        description="Canary steps, in order. After the last one the canary is promoted.",
    )
    analysis: AnalysisSpec | None = Field(default=None, description="Metric checks while steps run.")
    progress_deadline_seconds: int = Field(
        default=600,
        ge=1,
        le=86400,
        description="Seconds a step may wait for its canary pods to become Ready before rolling back. Default 600.",
    )
    rollback_window: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Going back to one of the last N promoted revisions skips the steps. Default 3.",
    )
    traffic: TrafficSpec = Field(default_factory=TrafficSpec, description="How traffic is split.")
    paused: bool = Field(default=False, description="Hold the rollout where it is. Default false.")


class ModelDeploymentSpec(ApiModel):
    """``spec`` of a ModelDeployment: one model, served by one runtime, scaled by replicas or an HPA."""

    model: ModelSource = Field(description="The model to serve.")
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec, description="The model server.")
    replicas: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Fixed number of pods. Mutually exclusive with autoscaling. Default 1.",
    )
    autoscaling: AutoscalingSpec | None = Field(
        default=None, description="Scale with a HorizontalPodAutoscaler instead of a fixed replicas."
    )
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Metrics scraping.")
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec, description="Canary steps, analysis and traffic."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "(has(self.runtime) && has(self.runtime.name) && self.runtime.name == 'tfserving') == "
                    "(has(self.model.format) && self.model.format == 'tensorflow')",
                    "runtime.name tfserving serves model.format tensorflow, and onnxruntime serves onnx",
                    ".runtime.name",
                ),
                _cel(
                    "!(has(self.replicas) && has(self.autoscaling))",
                    "replicas and autoscaling are mutually exclusive: with autoscaling the "
                    "HorizontalPodAutoscaler owns the replica count",
                    ".replicas",
                ),
            ]
        }
    )

    @model_validator(mode="after")
    def _runtime_serves_format(self) -> ModelDeploymentSpec:
        if (self.runtime.name == "tfserving") != (self.model.format == "tensorflow"):
            raise ValueError(
                "runtime.name tfserving serves model.format tensorflow, and onnxruntime serves onnx"
            )
        return self

    @model_validator(mode="after")
    def _replicas_xor_autoscaling(self) -> ModelDeploymentSpec:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError("replicas and autoscaling are mutually exclusive")
        return self

    @property
    def fixed_replicas(self) -> int | None:
        """Replicas of the stable track when no HPA scales it (default 1); None with autoscaling."""
        if self.autoscaling is not None:
            return None
        return 1 if self.replicas is None else self.replicas


def _error_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(["spec", *(str(p) for p in loc)])


def parse_spec(raw: dict[str, Any]) -> ModelDeploymentSpec:
    """Parse the ``spec`` mapping of a ModelDeployment as stored by the API server.

    Returns the validated, defaulted spec; raises :class:`SpecError` naming the first failing field
    (``spec.autoscaling.minReplicas``) and what is wrong with it.
    """
    try:
        return ModelDeploymentSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise SpecError(_error_path(tuple(first["loc"])), first["msg"]) from exc


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``1m30s``, ``250ms``, ``2h``; raises ValueError otherwise."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


class PodSource(ApiModel):
    """The parts of the spec that shape a track's pods: a revision is a hash of what they render to."""

    model: ModelSource = Field(description="spec.model of that revision.")
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec, description="spec.runtime of that revision.")

    @classmethod
    def of(cls, spec: ModelDeploymentSpec) -> PodSource:
        """The pod source of a spec."""
        return cls(model=spec.model, runtime=spec.runtime)
