"""The TF Serving config files the operator renders parse with TF Serving's own protobuf definitions.

ModelServerConfig comes from the tensorflow-serving-api package; MonitoringConfig is not shipped in
it, so its two-message .proto (tensorflow_serving/config/monitoring_config.proto) is compiled here
with grpcio-tools."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest
from glidepath.api import PodSource, parse_spec
from glidepath.render import tfserving_files

text_format = pytest.importorskip("google.protobuf.text_format")
model_server_config_pb2 = pytest.importorskip(
    "tensorflow_serving.config.model_server_config_pb2", reason="tensorflow-serving-api not installed"
)

MONITORING_PROTO = """syntax = "proto3";
package tensorflow.serving;
message PrometheusConfig {
  bool enable = 1;
  string path = 2;
}
message MonitoringConfig {
  PrometheusConfig prometheus_config = 1;
}
"""


def monitoring_pb2(tmp_path: Path) -> ModuleType:
    protoc = pytest.importorskip("grpc_tools.protoc")
    (tmp_path / "glidepath_monitoring_config.proto").write_text(MONITORING_PROTO)
    assert (
        protoc.main(
            ["protoc", f"-I{tmp_path}", f"--python_out={tmp_path}", "glidepath_monitoring_config.proto"]
        )
        == 0
    )
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module("glidepath_monitoring_config_pb2")
    finally:
        sys.path.remove(str(tmp_path))


def files(version: str = "7") -> dict[str, str]:
    spec = parse_spec(
        {
            "model": {"uri": "gs://b/m/", "format": "tensorflow", "version": version},
            "runtime": {"name": "tfserving"},
        }
    )
    return tfserving_files("fraud", PodSource.of(spec))


def test_model_config_parses_as_model_server_config() -> None:
    config = text_format.Parse(files()["models.config"], model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == "fraud"
    assert model.base_path == "/mnt/models"
    assert model.model_platform == "tensorflow"
    assert list(model.model_version_policy.specific.versions) == [7]


def test_monitoring_config_parses_as_monitoring_config(tmp_path: Path) -> None:
    pb2 = monitoring_pb2(tmp_path)
    config = text_format.Parse(files()["monitoring.config"], pb2.MonitoringConfig())
    assert config.prometheus_config.enable is True
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_a_typo_would_not_parse() -> None:
    with pytest.raises(text_format.ParseError):
        text_format.Parse(
            files()["models.config"].replace("base_path", "basepath"),
            model_server_config_pb2.ModelServerConfig(),
        )
