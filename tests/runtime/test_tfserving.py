"""The TF Serving REST predict API, with plain HTTP (the form TF Serving's own clients send)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from examples.models.generate import N_CLASSES, GeneratedModel, sample_inputs
from tests.runtime.conftest import MODEL_NAME, MODEL_VERSION
from tests.runtime.harness import RuntimeProcess
from tests.runtime.test_clients import expected

PREDICT = f"/v1/models/{MODEL_NAME}:predict"


def test_row_format(runtime: RuntimeProcess, good_model: GeneratedModel) -> None:
    rows = sample_inputs(5)
    response = runtime.post(PREDICT, {"signature_name": "serving_default", "instances": rows.tolist()})
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    want = expected(good_model, rows)
    assert [p["label"] for p in predictions] == want["label"].tolist()
    np.testing.assert_allclose([p["probabilities"] for p in predictions], want["probabilities"], rtol=1e-6)


def test_row_format_with_named_instances_and_version(
    runtime: RuntimeProcess, good_model: GeneratedModel
) -> None:
    rows = sample_inputs(2)
    body = {"instances": [{"input": row} for row in rows.tolist()]}
    response = runtime.post(f"/v1/models/{MODEL_NAME}/versions/{MODEL_VERSION}:predict", body)
    assert response.status == 200, response.body
    assert [p["label"] for p in response.json()["predictions"]] == expected(good_model, rows)[
        "label"
    ].tolist()


def test_columnar_format(runtime: RuntimeProcess, good_model: GeneratedModel) -> None:
    rows = sample_inputs(3)
    for inputs in (rows.tolist(), {"input": rows.tolist()}):
        response = runtime.post(PREDICT, {"inputs": inputs})
        assert response.status == 200, response.body
        outputs = response.json()["outputs"]
        assert outputs["label"] == expected(good_model, rows)["label"].tolist()
        assert np.asarray(outputs["probabilities"]).shape == (3, N_CLASSES)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [[1.0] * 8], "signature_name": "other"}, "unknown signature_name 'other'"),
        ({"instances": [[1.0] * 8], "inputs": [[1.0] * 8]}, "exactly one of 'instances'"),
        ({}, "exactly one of 'instances'"),
        ({"instances": {"input": 1}}, "'instances' must be an array"),
        ({"instances": [[1.0] * 8, [1.0] * 7]}, "regular (rectangular)"),
        ({"instances": [["a"] * 8]}, "do not fit DT_FLOAT"),
        ({"instances": [{"other": [1.0] * 8}]}, "unknown input(s) ['other']"),
        ({"inputs": {"input": [[1.0] * 8], "x": 1}}, "unknown input(s) ['x']"),
        ({"instances": [[1.0] * 3]}, "does not match the model's [-1, 8]"),
    ],
)
def test_bad_requests(runtime: RuntimeProcess, body: dict[str, Any], message: str) -> None:
    response = runtime.post(PREDICT, body)
    assert response.status == 400, response.body
    assert message in response.json()["error"]


def test_status_metadata_and_unknown_routes(runtime: RuntimeProcess) -> None:
    status = runtime.get(f"/v1/models/{MODEL_NAME}")
    assert status.status == 200
    assert status.json() == {
        "model_version_status": [
            {
                "version": MODEL_VERSION,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert runtime.get(f"/v1/models/{MODEL_NAME}/versions/{MODEL_VERSION}").status == 200
    metadata = runtime.get(f"/v1/models/{MODEL_NAME}/metadata").json()
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["input"]["dtype"] == "DT_FLOAT"
    assert signature["inputs"]["input"]["tensor_shape"]["dim"] == [
        {"size": "-1", "name": ""},
        {"size": "8", "name": ""},
    ]
    assert signature["outputs"]["label"]["dtype"] == "DT_INT64"
    assert runtime.get("/v1/models/other").status == 404
    assert runtime.get(f"/v1/models/{MODEL_NAME}/versions/9").status == 404
    assert runtime.post(f"/v1/models/{MODEL_NAME}:classify", {"examples": []}).status == 404
    assert runtime.get(PREDICT).status == 405


def test_strings_and_b64(types_runtime: RuntimeProcess) -> None:
    inputs: dict[str, Any] = {}
    for name, value in (
        ("bool", [[True, False]]),
        ("uint8", [[0, 255]]),
        ("uint16", [[0, 65535]]),
        ("uint32", [[0, 2**32 - 1]]),
        ("uint64", [[0, 2**64 - 1]]),
        ("int8", [[-128, 127]]),
        ("int16", [[-1, 1]]),
        ("int32", [[-1, 1]]),
        ("int64", [[-(2**63), 2**63 - 1]]),
        ("fp16", [[0.5, -2.0]]),
        ("fp32", [[0.25, 1e30]]),
        ("fp64", [[1e300, -1e-300]]),
        ("bytes", [["plain", {"b64": base64.b64encode("é".encode()).decode()}]]),
    ):
        inputs[f"in_{name}"] = value
    response = types_runtime.post("/v1/models/types:predict", {"inputs": inputs})
    assert response.status == 200, response.body
    outputs = response.json()["outputs"]
    assert outputs["out_bytes"] == [["plain", "é"]]
    assert outputs["out_uint64"] == [[0, 2**64 - 1]]
    assert outputs["out_int64"] == [[-(2**63), 2**63 - 1]]
    assert outputs["out_fp16"] == [[0.5, -2.0]]
    assert outputs["out_bool"] == [[True, False]]
    bad = types_runtime.post("/v1/models/types:predict", {"inputs": {**inputs, "in_int8": [[1, 300]]}})
    assert bad.status == 400
    assert "out of range for DT_INT8" in bad.json()["error"]
