"""What differs between the runtimes a ModelDeployment can run: ports, probe and metrics paths, and
the container itself. PURE."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import jinja2

from glidepath import naming
from glidepath.api import PodSource

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)

TFSERVING_CONFIG_DIR = "/etc/glidepath/tfserving"
TFSERVING_CONFIG_VOLUME = "tfserving-config"
TFSERVING_GRPC_PORT = 8500
TFSERVING_REST_PORT = 8501

# TF Serving's text-format protos (tensorflow_serving/config/model_server_config.proto, monitoring_config.proto)
MODEL_CONFIG = _ENV.from_string(
    """model_config_list {
  config {
    name: "{{ name }}"
    base_path: "{{ base_path }}"
    model_platform: "tensorflow"
    model_version_policy {
      specific {
        versions: {{ version }}
      }
    }
  }
}
"""
)
MONITORING_CONFIG = _ENV.from_string(
    """prometheus_config {
  enable: true
  path: "{{ path }}"
}
"""
)


@dataclass(frozen=True)
class RuntimeProfile:
    """The contract of one runtime image with the operator.

    http_port / grpc_port: container ports (named ``http`` and ``grpc``); metrics_path: what the
    ServiceMonitor scrapes on ``http``.
    """

    name: str
    http_port: int
    grpc_port: int | None
    metrics_path: str

    def readiness_path(self, model: str, version: str) -> str:
        """Path the readiness probe GETs: 200 once the model is loaded.

        TF Serving: the pinned version's metadata, which needs the loaded servable (404 until then);
        its model status ``/v1/models/{model}`` answers 200 while a version is still loading, and
        after a load failed (the state is in the body).
        """
        if self.name == "tfserving":
            return f"/v1/models/{model}/versions/{version}/metadata"
        return f"/v2/models/{model}/ready"

    def liveness_path(self, model: str) -> str:
        """Path the liveness and startup probes GET."""
        return f"/v1/models/{model}" if self.name == "tfserving" else "/v2/health/live"


ONNXRUNTIME = RuntimeProfile("onnxruntime", naming.HTTP_PORT, naming.GRPC_PORT, "/metrics")
TFSERVING = RuntimeProfile(
    "tfserving", TFSERVING_REST_PORT, TFSERVING_GRPC_PORT, "/monitoring/prometheus/metrics"
)
PROFILES = {p.name: p for p in (ONNXRUNTIME, TFSERVING)}


def profile_of(source: PodSource) -> RuntimeProfile:
    """The profile of the runtime a pod source names."""
    return PROFILES[source.runtime.name]


def cpu_threads(source: PodSource) -> int | None:
    """Threads that fit the container's CPU limit (ceil of cores, at least 1); None without a limit."""
    limits = source.runtime.resources.limits if source.runtime.resources is not None else None
    if not limits or "cpu" not in limits:
        return None
    value = str(limits["cpu"])
    match = re.fullmatch(r"([0-9.]+)(m?)", value)
    if match is None:
        return None
    cores = float(match.group(1)) / (1000 if match.group(2) else 1)
    return max(1, math.ceil(cores))


def serve_command(name: str, source: PodSource) -> list[str]:
    """argv of the onnxruntime container (``glidepath-runtime serve``); the model is named after the ModelDeployment."""
    return [
        "glidepath-runtime",
        "serve",
        "--model-name",
        name,
        "--model-dir",
        naming.MODEL_DIR,
        "--model-version",
        source.model.version,
        "--http-port",
        str(naming.HTTP_PORT),
    ]


def tfserving_command(source: PodSource) -> list[str]:
    """argv of the TF Serving container: REST and gRPC ports, the generated config files, thread
    pools sized to the CPU limit, and the model directory read once (it never changes in a pod)."""
    argv = [
        "tensorflow_model_server",
        f"--port={TFSERVING_GRPC_PORT}",
        f"--rest_api_port={TFSERVING_REST_PORT}",
        f"--model_config_file={TFSERVING_CONFIG_DIR}/models.config",
        f"--monitoring_config_file={TFSERVING_CONFIG_DIR}/monitoring.config",
        "--file_system_poll_wait_seconds=0",
    ]
    threads = cpu_threads(source)
    if threads is not None:
        argv += [
            f"--tensorflow_intra_op_parallelism={threads}",
            f"--tensorflow_inter_op_parallelism={threads}",
            f"--rest_api_num_threads={max(2, 2 * threads)}",
        ]
    return argv


def tfserving_files(name: str, source: PodSource) -> dict[str, str]:
    """The TF Serving config files, by file name: the model config (name, base path, the one version
    to serve) and the monitoring config (Prometheus metrics at /monitoring/prometheus/metrics)."""
    return {
        "models.config": MODEL_CONFIG.render(
            name=name, base_path=naming.MODEL_DIR, version=int(source.model.version)
        ),
        "monitoring.config": MONITORING_CONFIG.render(path=TFSERVING.metrics_path),
    }
