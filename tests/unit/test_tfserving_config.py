"""The TF Serving config files the operator renders parse with TF Serving's own protobuf definitions.

ModelServerConfig comes from the tensorflow-serving-api package; MonitoringConfig is not shipped in
it, so its two messages (tensorflow_serving/config/monitoring_config.proto) are declared here as a
descriptor and built by protobuf's message factory, in a pool of their own."""

from __future__ import annotations

from typing import Any

import pytest
from glidepath.api import PodSource, parse_spec
from glidepath.render import tfserving_files

text_format = pytest.importorskip("google.protobuf.text_format")
model_server_config_pb2 = pytest.importorskip(
    "tensorflow_serving.config.model_server_config_pb2", reason="tensorflow-serving-api not installed"
)


def monitoring_config_class() -> Any:
    """tensorflow.serving.MonitoringConfig { PrometheusConfig prometheus_config = 1; } with
    PrometheusConfig { bool enable = 1; string path = 2; } (proto3)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
    )
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_OPTIONAL,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


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


def test_monitoring_config_parses_as_monitoring_config() -> None:
    config = text_format.Parse(files()["monitoring.config"], monitoring_config_class()())
    assert config.prometheus_config.enable is True
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_a_typo_would_not_parse() -> None:
    with pytest.raises(text_format.ParseError):
        text_format.Parse(
            files()["models.config"].replace("base_path", "basepath"),
            model_server_config_pb2.ModelServerConfig(),
        )


def test_the_protos_checked_are_those_of_the_tf_serving_image() -> None:
    """The config is checked against the TF Serving release the image runs, not a newer one."""
    import importlib.metadata
    import re
    from pathlib import Path

    dockerfile = Path(__file__).parents[2] / "runtime-images" / "tfserving" / "Dockerfile"
    match = re.search(r"^FROM tensorflow/serving:([0-9.]+)", dockerfile.read_text(), re.MULTILINE)
    assert match is not None
    assert importlib.metadata.version("tensorflow-serving-api") == match.group(1)
