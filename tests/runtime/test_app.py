"""The HTTP routes in-process (no mocks: real models and ONNX Runtime sessions), for states and models
that are awkward to reach over a socket: not yet loaded, failed load, ZipMap outputs, other datatypes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from glidepath_runtime.config import ServerSettings
from glidepath_runtime.model import Model
from glidepath_runtime.server import Server
from onnx import TensorProto, helper

from examples.models.generate import GeneratedModel, sample_inputs
from tests.runtime.inprocess import call, make_router


def make_app(path: Path, *, load: bool = True) -> Any:
    return make_router(path, load=load)


def infer_request(rows: np.ndarray) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": "input",
                "shape": list(rows.shape),
                "datatype": "FP32",
                "data": rows.reshape(-1).tolist(),
            }
        ]
    }


def test_not_ready_until_loaded_then_ready(good_model: GeneratedModel) -> None:
    app = make_app(good_model.path, load=False)
    assert call(app, "GET", "/v2/health/live") == (200, {"live": True})
    for path in ("/v2/health/ready", "/v2/models/m/ready", "/v2/models/m"):
        status, body = call(app, "GET", path)
        assert status == 503, path
        assert "model 'm' is not ready (loading)" in body["error"]
    status, body = call(app, "POST", "/v2/models/m/infer", infer_request(sample_inputs(1)))
    assert status == 503
    assert "not ready" in body["error"]

    app.service.default.model.load()
    assert call(app, "GET", "/v2/health/ready") == (200, {"ready": True})
    app.service.shutting_down = True  # SIGTERM: readiness false, inference still answered
    assert call(app, "GET", "/v2/health/ready")[0] == 503
    assert call(app, "GET", "/v2/models/m/ready") == (503, {"error": "the server is shutting down"})
    assert call(app, "POST", "/v2/models/m/infer", infer_request(sample_inputs(1)))[0] == 200


def test_failed_load_stops_the_server_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    server = Server([Model("m", path, "1")], ServerSettings())
    asyncio.run(server._load_all())
    assert server.load_failed
    app = make_app(path, load=False)
    model = app.service.default.model
    with pytest.raises(Exception):  # noqa: B017, PT011 - onnxruntime's own exception types
        model.load()
    status, body = call(app, "GET", "/v2/health/ready")
    assert status == 503
    assert "failed to load" in body["error"]
    assert "InvalidProtobuf" in body["error"] or "INVALID_PROTOBUF" in body["error"]


def test_zipmap_output_is_skipped_with_a_reason(zipmap_model: GeneratedModel) -> None:
    app = make_app(zipmap_model.path)
    assert list(app.service.default.model.skipped_outputs) == ["output_probability"]
    status, metadata = call(app, "GET", "/v2/models/m")
    assert status == 200
    assert [o["name"] for o in metadata["outputs"]] == ["output_label"]

    status, body = call(app, "POST", "/v2/models/m/infer", infer_request(sample_inputs(3)))
    assert status == 200, body
    assert [(o["name"], o["datatype"], o["shape"]) for o in body["outputs"]] == [
        ("output_label", "INT64", [3])
    ]

    asked = {**infer_request(sample_inputs(1)), "outputs": [{"name": "output_probability"}]}
    status, body = call(app, "POST", "/v2/models/m/infer", asked)
    assert status == 400
    assert "output 'output_probability' has ONNX type seq(map(int64,tensor(float)))" in body["error"]
    assert "zipmap=False" in body["error"]


@pytest.fixture(scope="module")
def identity_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX model that echoes an INT8, a BOOL and a string tensor (all with a dynamic dim)."""
    kinds = {"small": TensorProto.INT8, "flag": TensorProto.BOOL, "text": TensorProto.STRING}
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], [f"{name}_out"]) for name in kinds],
        "identity",
        [helper.make_tensor_value_info(name, kind, ["n"]) for name, kind in kinds.items()],
        [helper.make_tensor_value_info(f"{name}_out", kind, ["n"]) for name, kind in kinds.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("identity") / "model.onnx"
    onnx.save(model, str(path))
    return path


def _tensors(small: list[Any], flag: list[Any], text: list[Any]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "small", "shape": [len(small)], "datatype": "INT8", "data": small},
            {"name": "flag", "shape": [len(flag)], "datatype": "BOOL", "data": flag},
            {"name": "text", "shape": [len(text)], "datatype": "BYTES", "data": text},
        ]
    }


def test_int8_bool_and_bytes_round_trip(identity_model: Path) -> None:
    app = make_app(identity_model)
    status, metadata = call(app, "GET", "/v2/models/m")
    assert status == 200
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        ("small", "INT8", [-1]),
        ("flag", "BOOL", [-1]),
        ("text", "BYTES", [-1]),
    ]
    status, body = call(
        app, "POST", "/v2/models/m/infer", _tensors([-128, 0, 127], [True, False, True], ["a", "é", ""])
    )
    assert status == 200, body
    assert {o["name"]: (o["datatype"], o["data"]) for o in body["outputs"]} == {
        "small_out": ("INT8", [-128, 0, 127]),
        "flag_out": ("BOOL", [True, False, True]),
        "text_out": ("BYTES", ["a", "é", ""]),
    }


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        (
            _tensors([1, 300], [True, True], ["a", "b"]),
            "input 'small': values [1, 300] are out of range for INT8",
        ),
        (_tensors([1.5, 2], [True, True], ["a", "b"]), "input 'small': 'data' holds numbers with a fraction"),
        (
            _tensors([1, 2], [1, 0], ["a", "b"]),
            "input 'flag': 'data' holds integers, which do not fit datatype BOOL",
        ),
        (_tensors([1, 2], [True, False], [1, 2]), "input 'text': 'data' holds integers"),
        (_tensors([1, 2], [True, None], ["a", "b"]), "input 'flag': 'data' holds mixed or null values"),
    ],
)
def test_datatype_checks(identity_model: Path, tensors: dict[str, Any], message: str) -> None:
    status, body = call(make_app(identity_model), "POST", "/v2/models/m/infer", tensors)
    assert status == 400
    assert message in body["error"]
