"""The Open Inference Protocol REST API of a real ``glidepath-runtime serve`` process on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from glidepath_runtime.metrics import INFERENCE_REQUEST_DURATION_SECONDS, INFERENCE_REQUESTS_TOTAL
from prometheus_client.parser import text_string_to_metric_families

from examples.models.generate import BAD_N_FEATURES, N_CLASSES, N_FEATURES, GeneratedModel, sample_inputs
from tests.runtime.conftest import MODEL_NAME, MODEL_VERSION
from tests.runtime.harness import RuntimeProcess, start_runtime

INFER = f"/v2/models/{MODEL_NAME}/infer"
INFER_VERSIONED = f"/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/infer"


def infer_body(rows: np.ndarray, *, nested: bool = False, **extra: Any) -> dict[str, Any]:
    """A V2 inference request for the example model's ``input``."""
    data = rows.tolist() if nested else rows.reshape(-1).tolist()
    return {
        "inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": data}],
        **extra,
    }


def test_health(runtime: RuntimeProcess) -> None:
    live = runtime.get("/v2/health/live")
    ready = runtime.get("/v2/health/ready")
    assert (live.status, live.json()) == (200, {"live": True})
    assert (ready.status, ready.json()) == (200, {"ready": True})
    for path in (f"/v2/models/{MODEL_NAME}/ready", f"/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/ready"):
        response = runtime.get(path)
        assert (response.status, response.json()) == (200, {"ready": True}), path


def test_server_metadata(runtime: RuntimeProcess) -> None:
    response = runtime.get("/v2")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["name"] == "glidepath-runtime"
    assert isinstance(body["version"], str)
    assert body["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize(
    "path", [f"/v2/models/{MODEL_NAME}", f"/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}"]
)
def test_model_metadata(runtime: RuntimeProcess, path: str) -> None:
    response = runtime.get(path)
    assert response.status == 200
    assert response.json() == {
        "name": MODEL_NAME,
        "versions": [MODEL_VERSION],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, N_FEATURES]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, N_CLASSES]},
        ],
    }


@pytest.mark.parametrize(("path", "nested"), [(INFER, False), (INFER_VERSIONED, True)])
def test_prediction_matches_onnxruntime_in_process(
    runtime: RuntimeProcess, good_model: GeneratedModel, path: str, nested: bool
) -> None:
    rows = sample_inputs(16)
    session = ort.InferenceSession(str(good_model.path), providers=["CPUExecutionProvider"])
    want_labels, want_probabilities = session.run(["label", "probabilities"], {"input": rows})

    response = runtime.post(path, infer_body(rows, nested=nested, id="req-1"))

    assert response.status == 200, response.body
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (MODEL_NAME, MODEL_VERSION, "req-1")
    outputs = {o["name"]: o for o in body["outputs"]}
    assert list(outputs) == ["label", "probabilities"]
    label, probabilities = outputs["label"], outputs["probabilities"]
    assert (label["datatype"], label["shape"]) == ("INT64", [16])
    assert (probabilities["datatype"], probabilities["shape"]) == ("FP32", [16, N_CLASSES])
    assert label["data"] == want_labels.tolist()
    assert len(set(label["data"])) > 1, "sample inputs should hit more than one class"
    np.testing.assert_allclose(
        np.asarray(probabilities["data"], dtype=np.float32).reshape(16, N_CLASSES),
        want_probabilities,
        rtol=1e-6,
    )


def test_requested_output_subset_and_request_ids(runtime: RuntimeProcess) -> None:
    response = runtime.post(INFER, infer_body(sample_inputs(2), outputs=[{"name": "probabilities"}]))
    assert response.status == 200, response.body
    body = response.json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities"]
    assert "id" not in body  # none asked, none invented
    assert "x-request-id" not in response.headers

    traced = runtime.post(INFER, infer_body(sample_inputs(1)), headers={"x-request-id": "trace-7"})
    assert traced.headers["x-request-id"] == "trace-7"
    assert traced.json()["id"] == "trace-7"
    both = runtime.post(
        INFER, infer_body(sample_inputs(1), id="body-id"), headers={"x-request-id": "trace-8"}
    )
    assert (both.json()["id"], both.headers["x-request-id"]) == ("body-id", "trace-8")


def test_empty_batch(runtime: RuntimeProcess) -> None:
    response = runtime.post(INFER, infer_body(np.zeros((0, N_FEATURES), dtype=np.float32)))
    assert response.status == 200, response.body
    assert {o["name"]: o["shape"] for o in response.json()["outputs"]} == {
        "label": [0],
        "probabilities": [0, N_CLASSES],
    }


def _input(**overrides: Any) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}
    tensor.update(overrides)
    return {"inputs": [tensor]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b'{"inputs": [', "malformed JSON", id="malformed-json"),
        pytest.param(b"[1, 2]", "JSON object", id="not-an-object"),
        pytest.param({"inputs": []}, "'inputs' must be a non-empty array", id="no-inputs"),
        pytest.param(
            {"inputs": [{"name": "other", "shape": [1], "datatype": "FP32", "data": [1]}]},
            "unknown input 'other'",
            id="unknown-input",
        ),
        pytest.param(
            _input(datatype="INT64"),
            "input 'input': datatype INT64 does not match the model's FP32",
            id="wrong-datatype",
        ),
        pytest.param(
            _input(datatype="FLOAT"), "input 'input': datatype FLOAT does not match", id="bogus-datatype"
        ),
        pytest.param(
            _input(shape=[2, 8]),
            "input 'input': shape [2, 8] needs 16 elements but 'data' has 8",
            id="size-mismatch",
        ),
        pytest.param(
            _input(shape=[2, 4]),
            "input 'input': shape [2, 4] does not match the model's [-1, 8]",
            id="shape-mismatch",
        ),
        pytest.param(_input(shape=[8]), "input 'input': shape [8] does not match", id="wrong-rank"),
        pytest.param(
            _input(shape=[1, -8]),
            "input 'input': 'shape' must be an array of non-negative integers",
            id="negative-dim",
        ),
        pytest.param(_input(data=["a"] * 8), "input 'input': 'data' holds strings", id="strings-for-fp32"),
        pytest.param(
            _input(data=[[1, 2], [3]], shape=[1, 3]),
            "input 'input': 'data' is not a regular",
            id="ragged-data",
        ),
        pytest.param(_input(data=None), "input 'input': 'data' must be an array", id="null-data"),
        pytest.param(
            {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32"}]},
            "input 'input': 'data' is missing",
            id="missing-data",
        ),
        pytest.param(
            {**_input(), "outputs": [{"name": "nope"}]}, "unknown output 'nope'", id="unknown-output"
        ),
        pytest.param(
            {"inputs": [_input()["inputs"][0], _input()["inputs"][0]]},
            "input 'input' is given more than once",
            id="duplicate-input",
        ),
    ],
)
def test_bad_requests_get_400_naming_the_problem(runtime: RuntimeProcess, body: Any, message: str) -> None:
    response = runtime.post(INFER, body)
    assert response.status == 400, response.body
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("POST", "/v2/models/other/infer", 404, "unknown model 'other'"),
        ("POST", f"/v2/models/{MODEL_NAME}/versions/9/infer", 404, "unknown version '9'"),
        ("GET", "/v2/models/other", 404, "unknown model 'other'"),
        ("GET", f"/v2/models/{MODEL_NAME}/versions/9", 404, "unknown version '9'"),
        ("GET", "/v2/models/other/ready", 404, "unknown model 'other'"),
        ("GET", "/v2/nothing", 404, "no route"),
        ("GET", "/", 404, "no route"),
        ("GET", INFER, 405, "use POST"),
        ("POST", "/v2/health/live", 405, "use GET"),
    ],
)
def test_not_found_and_wrong_method(
    runtime: RuntimeProcess, method: str, path: str, status: int, message: str
) -> None:
    response = runtime.post(path, _input()) if method == "POST" else runtime.get(path)
    assert response.status == status, response.body
    assert message in response.json()["error"]


def _scrape(runtime: RuntimeProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = runtime.get("/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _requests(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], code: str) -> float:
    labels = {"model": MODEL_NAME, "version": MODEL_VERSION, "protocol": "v2", "code": code}
    return samples.get((INFERENCE_REQUESTS_TOTAL, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_inference_requests_by_code(runtime: RuntimeProcess) -> None:
    before = _scrape(runtime)
    assert (
        INFERENCE_REQUESTS_TOTAL,
        tuple(
            sorted({"model": MODEL_NAME, "version": MODEL_VERSION, "protocol": "v2", "code": "200"}.items())
        ),
    ) in before
    for _ in range(3):
        assert runtime.post(INFER, infer_body(sample_inputs(1))).status == 200
    for _ in range(2):
        assert runtime.post(INFER, b"{").status == 400
    assert runtime.post("/v2/models/other/infer", b"{}").status == 404
    runtime.get("/v2/health/ready")  # not an inference request: not counted

    after = _scrape(runtime)
    assert {
        code: _requests(after, code) - _requests(before, code) for code in ("200", "400", "404", "503")
    } == {
        "200": 3,
        "400": 2,
        "404": 1,
        "503": 0,
    }
    count_labels = tuple(sorted({"model": MODEL_NAME, "version": MODEL_VERSION, "protocol": "v2"}.items()))
    count = f"{INFERENCE_REQUEST_DURATION_SECONDS}_count"
    assert after[(count, count_labels)] - before.get((count, count_labels), 0.0) == 6
    assert after[(f"{INFERENCE_REQUEST_DURATION_SECONDS}_sum", count_labels)] > 0
    assert not any(name.endswith("_created") for name, _ in after)


def test_bad_variant_rejects_requests_built_for_the_good_model(
    bad_model: GeneratedModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("bad-runtime") / "runtime.log"
    with start_runtime(bad_model.path.parent, MODEL_NAME, "4", log) as server:
        metadata = server.get(f"/v2/models/{MODEL_NAME}").json()
        assert metadata["inputs"][0]["shape"] == [-1, BAD_N_FEATURES]
        response = server.post(INFER, infer_body(sample_inputs(2)))
        assert response.status == 400
        assert f"does not match the model's [-1, {BAD_N_FEATURES}]" in response.json()["error"]
        ok = server.post(INFER, infer_body(sample_inputs(2, n_features=BAD_N_FEATURES)))
        assert ok.status == 200, ok.body
