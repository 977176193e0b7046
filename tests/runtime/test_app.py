"""The ASGI app in-process (no mocks: a real Model and ONNX Runtime session), for states and models that
are awkward to reach over a socket: not yet loaded, failed load, ZipMap outputs, other datatypes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from glidepath_runtime.app import App
from glidepath_runtime.metrics import RuntimeMetrics
from glidepath_runtime.model import Model
from onnx import TensorProto, helper

from examples.models.generate import GeneratedModel, sample_inputs


def call(app: App, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Drive one HTTP request through the ASGI app; returns status and parsed JSON body."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""

    async def run() -> tuple[int, Any]:
        incoming = [{"type": "http.request", "body": raw, "more_body": False}]
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
        status = sent[0]["status"]
        return status, json.loads(b"".join(m.get("body", b"") for m in sent[1:]))

    return asyncio.run(run())


def run_lifespan(
    app: App, until: Callable[[], bool], timeout: float = 10.0
) -> list[MutableMapping[str, Any]]:
    """Send lifespan startup, wait until ``until()`` (or ``timeout`` s), send shutdown; returns what the
    app sent."""

    async def run() -> list[MutableMapping[str, Any]]:
        incoming = [{"type": "lifespan.startup"}]
        sent: list[MutableMapping[str, Any]] = []
        stop = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop(0)
            await stop.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        task = asyncio.create_task(app({"type": "lifespan"}, receive, send))
        deadline = asyncio.get_running_loop().time() + timeout
        while not until() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await task
        return sent

    return asyncio.run(run())


def make_app(path: Path, *, load: bool = True, **kwargs: Any) -> App:
    model = Model("m", path, "1")
    if load:
        model.load()
    return App(model, RuntimeMetrics("m", "1"), workers=1, **kwargs)


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


def test_not_ready_until_loaded_then_ready_after_lifespan_startup(good_model: GeneratedModel) -> None:
    app = make_app(good_model.path, load=False)
    assert call(app, "GET", "/v2/health/live") == (200, {"live": True})
    for path in ("/v2/health/ready", "/v2/models/m/ready", "/v2/models/m"):
        status, body = call(app, "GET", path)
        assert status == 503, path
        assert "model 'm' is not ready (loading)" in body["error"]
    status, body = call(app, "POST", "/v2/models/m/infer", infer_request(sample_inputs(1)))
    assert status == 503
    assert "not ready" in body["error"]

    sent = run_lifespan(app, until=lambda: app.model.ready)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert app.model.ready
    assert call(app, "GET", "/v2/health/ready") == (200, {"ready": True})


def test_failed_load_stays_not_ready_and_calls_back(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    failures: list[bool] = []
    app = make_app(path, load=False, on_load_failure=lambda: failures.append(True))

    run_lifespan(app, until=lambda: bool(failures))
    assert failures == [True]
    status, body = call(app, "GET", "/v2/health/ready")
    assert status == 503
    assert "failed to load" in body["error"]
    assert "InvalidProtobuf" in body["error"] or "INVALID_PROTOBUF" in body["error"]


def test_zipmap_output_is_skipped_with_a_reason(zipmap_model: GeneratedModel) -> None:
    app = make_app(zipmap_model.path)
    assert list(app.model.skipped_outputs) == ["output_probability"]
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


def test_body_over_the_limit_gets_413(good_model: GeneratedModel) -> None:
    app = make_app(good_model.path, max_body_bytes=100)
    status, body = call(app, "POST", "/v2/models/m/infer", infer_request(sample_inputs(4)))
    assert status == 413
    assert "over 100 bytes" in body["error"]


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
