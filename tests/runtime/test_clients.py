"""Real clients we did not write, unmodified, against a real server: Triton's ``tritonclient`` (HTTP in
JSON and binary modes, gRPC) and the ``kserve`` package's REST client (in a subprocess: kserve and
tritonclient.grpc register the same protobuf messages and cannot share a process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient  # type: ignore[import-untyped]
import tritonclient.http as httpclient  # type: ignore[import-untyped]
from tritonclient.utils import InferenceServerException  # type: ignore[import-untyped]

from examples.models.generate import N_CLASSES, GeneratedModel, sample_inputs
from tests.runtime.conftest import MODEL_NAME, MODEL_VERSION
from tests.runtime.harness import RuntimeProcess
from tests.runtime.models import DATATYPES

KSERVE_CHECK = Path(__file__).with_name("kserve_check.py")


def expected(model: GeneratedModel, rows: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": rows})
    return {"label": label, "probabilities": probabilities}


def sample(datatype: str, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Values of every corner of ``datatype``: extremes, zero, negatives, non-ASCII text."""
    rng = np.random.default_rng(seed)
    size = shape[0] * shape[1]
    if datatype == "BOOL":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if datatype == "BYTES":
        words = ["", "a", "é ü", "日本", "x" * 40]
        return np.array([words[i % len(words)].encode() for i in range(size)], dtype=np.object_).reshape(
            shape
        )
    dtype: Any = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}.get(datatype)
    if dtype is not None:
        values = rng.normal(0, 100, size=size).astype(dtype)
        values[: min(size, 3)] = [np.finfo(dtype).max, np.finfo(dtype).tiny, -0.0][: min(size, 3)]
        return values.reshape(shape)
    info = np.iinfo(getattr(np, datatype.lower()))
    values = rng.integers(info.min, info.max, size=size, dtype=getattr(np, datatype.lower()), endpoint=True)
    values[: min(size, 2)] = [info.min, info.max][: min(size, 2)]
    return values.reshape(shape)


# --- tritonclient HTTP ----------------------------------------------------------------------------


def test_triton_http_health_and_metadata(runtime: RuntimeProcess) -> None:
    client = httpclient.InferenceServerClient(url=runtime.url)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL_NAME)
    assert client.is_model_ready(MODEL_NAME, MODEL_VERSION)
    assert not client.is_model_ready("other")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata(MODEL_NAME, MODEL_VERSION)
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8]}]


@pytest.mark.parametrize(
    ("binary_in", "binary_out"), [(False, False), (True, True), (True, False), (False, True)]
)
def test_triton_http_infer_matches_onnxruntime(
    runtime: RuntimeProcess, good_model: GeneratedModel, binary_in: bool, binary_out: bool
) -> None:
    rows = sample_inputs(16)
    client = httpclient.InferenceServerClient(url=runtime.url)
    tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary_in)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_out) for n in ("label", "probabilities")]
    result = client.infer(MODEL_NAME, [tensor], model_version=MODEL_VERSION, outputs=outputs, request_id="r1")
    want = expected(good_model, rows)
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        MODEL_NAME,
        MODEL_VERSION,
        "r1",
    )


def test_triton_http_compressed_request_and_response(
    runtime: RuntimeProcess, good_model: GeneratedModel
) -> None:
    rows = sample_inputs(64)
    client = httpclient.InferenceServerClient(url=runtime.url)
    tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=True)
    for algorithm in ("gzip", "deflate"):
        result = client.infer(
            MODEL_NAME,
            [tensor],
            request_compression_algorithm=algorithm,
            response_compression_algorithm=algorithm,
        )
        np.testing.assert_array_equal(result.as_numpy("label"), expected(good_model, rows)["label"])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_triton_http_every_datatype_round_trips(types_runtime: RuntimeProcess, binary: bool) -> None:
    client = httpclient.InferenceServerClient(url=types_runtime.url)
    inputs, outputs, sent = [], [], {}
    for index, datatype in enumerate(DATATYPES):
        if datatype == "FP16" and not binary:
            continue  # tritonclient refuses FP16 in JSON; the JSON codec's FP16 is tested with plain HTTP
        data = sample(datatype, (3, 2), seed=index)
        tensor = httpclient.InferInput(f"in_{datatype.lower()}", list(data.shape), datatype)
        tensor.set_data_from_numpy(data, binary_data=binary)
        inputs.append(tensor)
        outputs.append(httpclient.InferRequestedOutput(f"out_{datatype.lower()}", binary_data=binary))
        sent[datatype] = data
    if not binary:  # the server needs every input: send FP16 alone in binary next to JSON ones
        data = sample("FP16", (3, 2))
        tensor = httpclient.InferInput("in_fp16", [3, 2], "FP16")
        tensor.set_data_from_numpy(data, binary_data=True)
        inputs.append(tensor)
        sent["FP16"] = data
    result = client.infer("types", inputs, outputs=outputs)
    for datatype, data in sent.items():
        got = result.as_numpy(f"out_{datatype.lower()}")
        if datatype == "FP16" and not binary:
            assert got is None  # not requested
            continue
        assert got is not None, datatype
        if datatype == "BYTES":
            assert [v if isinstance(v, bytes) else v.encode() for v in got.reshape(-1)] == list(
                data.reshape(-1)
            )
        else:
            assert got.dtype == data.dtype, datatype
            np.testing.assert_array_equal(got, data, err_msg=datatype)


def test_triton_http_errors_are_client_errors(runtime: RuntimeProcess) -> None:
    client = httpclient.InferenceServerClient(url=runtime.url)
    tensor = httpclient.InferInput("input", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException, match=r"shape \[1, 3\] does not match"):
        client.infer(MODEL_NAME, [tensor])
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        client.infer("nope", [tensor])


# --- tritonclient gRPC ----------------------------------------------------------------------------


def test_triton_grpc_health_metadata_and_infer(runtime: RuntimeProcess, good_model: GeneratedModel) -> None:
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{runtime.grpc_port}")
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL_NAME, MODEL_VERSION)
    with pytest.raises(InferenceServerException, match="unknown version"):
        client.is_model_ready(MODEL_NAME, "9")
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "glidepath-runtime"
    metadata = client.get_model_metadata(MODEL_NAME, as_json=True)
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["-1", "8"]}]

    rows = sample_inputs(16)
    tensor = grpcclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer(MODEL_NAME, [tensor], model_version=MODEL_VERSION, request_id="g1")
    want = expected(good_model, rows)
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)
    assert result.get_response().id == "g1"
    subset = client.infer(MODEL_NAME, [tensor], outputs=[grpcclient.InferRequestedOutput("probabilities")])
    assert subset.as_numpy("label") is None
    assert subset.as_numpy("probabilities").shape == (16, N_CLASSES)


def test_triton_grpc_every_datatype_round_trips(types_runtime: RuntimeProcess) -> None:
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{types_runtime.grpc_port}")
    inputs, sent = [], {}
    for index, datatype in enumerate(DATATYPES):
        data = sample(datatype, (2, 3), seed=index)
        tensor = grpcclient.InferInput(f"in_{datatype.lower()}", list(data.shape), datatype)
        tensor.set_data_from_numpy(data)
        inputs.append(tensor)
        sent[datatype] = data
    result = client.infer("types", inputs)
    for datatype, data in sent.items():
        got = result.as_numpy(f"out_{datatype.lower()}")
        if datatype == "BYTES":
            assert list(got.reshape(-1)) == list(data.reshape(-1))
        else:
            assert got.dtype == data.dtype, datatype
            np.testing.assert_array_equal(got, data, err_msg=datatype)


def test_triton_grpc_errors_map_to_status_codes(runtime: RuntimeProcess) -> None:
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{runtime.grpc_port}")
    tensor = grpcclient.InferInput("input", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException) as bad:
        client.infer(MODEL_NAME, [tensor])
    assert bad.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException) as missing:
        client.infer("nope", [tensor])
    assert missing.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as unimplemented:
        client.get_model_config(MODEL_NAME)
    assert unimplemented.value.status() == "StatusCode.UNIMPLEMENTED"


# --- kserve ---------------------------------------------------------------------------------------


def test_kserve_rest_client_json_and_binary(runtime: RuntimeProcess, good_model: GeneratedModel) -> None:
    rows = sample_inputs(8)
    result = subprocess.run(
        [
            sys.executable,
            str(KSERVE_CHECK),
            f"http://{runtime.url}",
            MODEL_NAME,
            MODEL_VERSION,
            json.dumps(rows.tolist()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["live"]
    assert report["ready"]
    assert report["model_ready"]
    want = expected(good_model, rows)
    for mode in ("json", "binary"):
        outputs = report[mode]
        assert outputs["label"] == want["label"].tolist(), mode
        np.testing.assert_allclose(outputs["probabilities"], want["probabilities"], rtol=1e-6)
