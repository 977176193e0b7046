"""The server's HTTP API as an OpenAPI 3.0 document (``GET /openapi.json``).

Written after the Open Inference Protocol REST spec and TF Serving's REST API. Schemathesis fuzzes the
server against it in the tests; when the served model names are given, ``model_name`` is an enum of
them so generated requests reach the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glidepath_runtime import __version__

_DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad request: the message names the input and the problem",
        404: "Unknown model, version or path",
        405: "Wrong method",
        413: "Request body too large",
        503: "Not ready (loading or shutting down), or the model's queue is full (with Retry-After)",
    }
    return {str(status): _json(_ref("Error"), text[status]) for status in statuses}


def document(model_names: Sequence[str] = ()) -> dict[str, Any]:
    """The OpenAPI document; ``model_names`` (when given) become the ``model_name`` enum."""
    name_schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if model_names:
        name_schema = {"type": "string", "enum": list(model_names)}
    model_name = {"name": "model_name", "in": "path", "required": True, "schema": name_schema}
    model_version = {
        "name": "model_version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }

    def model_paths(base: str, suffix: str, operation: dict[str, Any], method: str) -> dict[str, Any]:
        plain = {method: {**operation, "parameters": [model_name]}}
        versioned = {
            method: {
                **operation,
                "operationId": operation["operationId"] + "Version",
                "parameters": [model_name, model_version],
            }
        }
        return {
            f"{base}/{{model_name}}{suffix}": plain,
            f"{base}/{{model_name}}/versions/{{model_version}}{suffix}": versioned,
        }

    paths: dict[str, Any] = {
        "/v2/health/live": {
            "get": {"operationId": "serverLive", "responses": {"200": _json(_ref("Live"), "Live")}}
        },
        "/v2/health/ready": {
            "get": {
                "operationId": "serverReady",
                "responses": {"200": _json(_ref("Ready"), "Ready"), **_errors(503)},
            }
        },
        "/v2": {
            "get": {
                "operationId": "serverMetadata",
                "responses": {"200": _json(_ref("ServerMetadata"), "Server metadata")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    paths.update(
        model_paths(
            "/v2/models",
            "",
            {
                "operationId": "modelMetadata",
                "responses": {"200": _json(_ref("ModelMetadata"), "Model metadata"), **_errors(404, 503)},
            },
            "get",
        )
    )
    paths.update(
        model_paths(
            "/v2/models",
            "/ready",
            {
                "operationId": "modelReady",
                "responses": {"200": _json(_ref("Ready"), "Ready"), **_errors(404, 503)},
            },
            "get",
        )
    )
    paths.update(
        model_paths(
            "/v2/models",
            "/infer",
            {
                "operationId": "modelInfer",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("InferRequest")}},
                },
                "responses": {
                    "200": _json(_ref("InferResponse"), "Inference result"),
                    **_errors(400, 404, 413, 503),
                },
            },
            "post",
        )
    )
    paths.update(
        model_paths(
            "/v1/models",
            "",
            {
                "operationId": "tfModelStatus",
                "responses": {"200": _json(_ref("TfModelStatus"), "Model status"), **_errors(404)},
            },
            "get",
        )
    )
    paths.update(
        model_paths(
            "/v1/models",
            "/metadata",
            {
                "operationId": "tfModelMetadata",
                "responses": {"200": _json({"type": "object"}, "Signature"), **_errors(404, 503)},
            },
            "get",
        )
    )
    paths.update(
        model_paths(
            "/v1/models",
            ":predict",
            {
                "operationId": "tfPredict",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("TfPredictRequest")}},
                },
                "responses": {
                    "200": _json(_ref("TfPredictResponse"), "Predictions or outputs"),
                    **_errors(400, 404, 413, 503),
                },
            },
            "post",
        )
    )
    tensor_metadata = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    parameters = {"type": "object", "additionalProperties": True}
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": tensor_metadata},
                "outputs": {"type": "array", "items": tensor_metadata},
            },
        },
        "InferRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": parameters,
                "inputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "shape", "datatype", "data"],
                        "properties": {
                            "name": {"type": "string"},
                            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                            "datatype": {"type": "string", "enum": _DATATYPES},
                            "parameters": parameters,
                            "data": {"type": "array"},
                        },
                    },
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}, "parameters": parameters},
                    },
                },
            },
        },
        "InferResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "shape", "datatype"],
                        "properties": {
                            "name": {"type": "string"},
                            "shape": {"type": "array", "items": {"type": "integer"}},
                            "datatype": {"type": "string", "enum": _DATATYPES},
                            "parameters": parameters,
                            "data": {"type": "array"},
                        },
                    },
                },
            },
        },
        "TfModelStatus": {
            "type": "object",
            "required": ["model_version_status"],
            "properties": {"model_version_status": {"type": "array", "items": {"type": "object"}}},
        },
        "TfPredictRequest": {
            "type": "object",
            "properties": {
                "signature_name": {"type": "string"},
                "instances": {"type": "array"},
                "inputs": {},
            },
        },
        "TfPredictResponse": {
            "type": "object",
            "properties": {"predictions": {"type": "array"}, "outputs": {}},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "glidepath-runtime",
            "version": __version__,
            "description": "Open Inference Protocol REST and TF Serving REST predict API of one "
            "glidepath-runtime server. The binary tensor data extension (Inference-Header-Content-Length) "
            "is described in the Open Inference Protocol and not modelled here.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
