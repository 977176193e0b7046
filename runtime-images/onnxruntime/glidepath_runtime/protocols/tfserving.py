"""TF Serving REST predict API codec (https://www.tensorflow.org/tfx/serving/api_rest).

- ``POST /v1/models/{name}[/versions/{v}]:predict`` with either

  - the row form ``{"signature_name"?, "instances": [...]}``: one entry per example; for a model with
    one input an entry is that input's value (or ``{"<input>": value}``), with several inputs each entry
    is an object naming every input. Entries are stacked along a new first (batch) dimension.
    Answer: ``{"predictions": [...]}``, one entry per example: the value of the single output, or an
    object of every output.
  - the columnar form ``{"signature_name"?, "inputs": value | {"<input>": value, ...}}`` with the batch
    dimension inside each value. Answer: ``{"outputs": value | {"<output>": value, ...}}``.

  Strings are JSON strings, or ``{"b64": "<base64>"}`` for bytes. Only the ``serving_default``
  signature exists (an ONNX model has one).
- ``GET /v1/models/{name}[/versions/{v}]``: ``{"model_version_status": [...]}``.
- ``GET /v1/models/{name}[/versions/{v}]/metadata``: the signature in TF Serving's ``SignatureDef`` JSON.

Errors are ``{"error": "<message>"}`` like TF Serving's, with the HTTP status of the error class.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson

from glidepath_runtime.datatypes import V2_TO_NUMPY, json_array, json_kinds
from glidepath_runtime.errors import BadRequest
from glidepath_runtime.model import Array, Model, TensorSpec

#: The only signature an ONNX model has.
DEFAULT_SIGNATURE: Final = "serving_default"

#: Open Inference Protocol datatype -> TensorFlow ``DataType`` name.
V2_TO_TF: Final = {
    "BOOL": "DT_BOOL",
    "UINT8": "DT_UINT8",
    "UINT16": "DT_UINT16",
    "UINT32": "DT_UINT32",
    "UINT64": "DT_UINT64",
    "INT8": "DT_INT8",
    "INT16": "DT_INT16",
    "INT32": "DT_INT32",
    "INT64": "DT_INT64",
    "FP16": "DT_HALF",
    "FP32": "DT_FLOAT",
    "FP64": "DT_DOUBLE",
    "BF16": "DT_BFLOAT16",
    "BYTES": "DT_STRING",
}


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """A decoded predict request: the input arrays and which form to answer in."""

    inputs: dict[str, Array]
    row_format: bool


def decode_predict_request(body: bytes, specs: Mapping[str, TensorSpec]) -> PredictRequest:
    """Parse a predict request into one array per model input.

    Raises:
        BadRequest: malformed JSON, an unknown signature, both or neither of ``instances``/``inputs``,
            unknown or missing inputs, ragged or mistyped values.
    """
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in request body: {exc}") from exc
    if not isinstance(request, dict):
        raise BadRequest("request body must be a JSON object with 'instances' or 'inputs'")
    signature = request.get("signature_name", DEFAULT_SIGNATURE)
    if signature != DEFAULT_SIGNATURE:
        raise BadRequest(f"unknown signature_name {signature!r}; this model has only {DEFAULT_SIGNATURE!r}")
    if ("instances" in request) == ("inputs" in request):
        raise BadRequest("give exactly one of 'instances' (row format) and 'inputs' (columnar format)")
    if "instances" in request:
        columns = _columns_from_instances(request["instances"], specs)
        row_format = True
    else:
        columns = _columns_from_inputs(request["inputs"], specs)
        row_format = False
    arrays = {name: _to_array(name, value, specs[name]) for name, value in columns.items()}
    return PredictRequest(arrays, row_format)


def _columns_from_instances(instances: object, specs: Mapping[str, TensorSpec]) -> dict[str, list[Any]]:
    if not isinstance(instances, list):
        raise BadRequest("'instances' must be an array with one entry per example")
    names = list(specs)
    single = names[0] if len(names) == 1 else None
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for index, instance in enumerate(instances):
        if isinstance(instance, dict) and not _is_b64(instance):
            unknown = sorted(set(instance) - set(names))
            if unknown:
                raise BadRequest(
                    f"instances[{index}]: unknown input(s) {unknown}; the model's inputs are {names}"
                )
            missing = [name for name in names if name not in instance]
            if missing:
                raise BadRequest(f"instances[{index}]: missing input(s) {missing}")
            for name in names:
                columns[name].append(instance[name])
        elif single is not None:
            columns[single].append(instance)
        else:
            raise BadRequest(
                f"instances[{index}] must be an object naming each of the model's inputs {names}"
            )
    return columns


def _columns_from_inputs(inputs: object, specs: Mapping[str, TensorSpec]) -> dict[str, Any]:
    names = list(specs)
    if isinstance(inputs, dict) and not _is_b64(inputs):
        unknown = sorted(set(inputs) - set(names))
        if unknown:
            raise BadRequest(f"'inputs': unknown input(s) {unknown}; the model's inputs are {names}")
        missing = [name for name in names if name not in inputs]
        if missing:
            raise BadRequest(f"'inputs': missing input(s) {missing}")
        return dict(inputs)
    if len(names) != 1:
        raise BadRequest(f"'inputs' must be an object naming each of the model's inputs {names}")
    return {names[0]: inputs}


def _is_b64(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _to_array(name: str, value: Any, spec: TensorSpec) -> Array:
    datatype = spec.datatype
    dtype: np.dtype[Any] | None = V2_TO_NUMPY.get(datatype)
    if dtype is None:
        raise BadRequest(f"input {name!r}: datatype {datatype} is not supported by this server")
    if datatype == "BYTES":
        value = _decode_strings(name, value)
    try:
        array = np.asarray(value, dtype=np.object_) if datatype == "BYTES" else json_array(value, datatype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"input {name!r}: values do not form a regular (rectangular) array: {exc}") from exc
    if datatype == "BYTES":
        if array.size and not all(isinstance(v, str) for v in array.reshape(-1).tolist()):
            raise BadRequest(f"input {name!r}: every value of a string input must be a string or b64 object")
        return array
    if array.size:
        if array.dtype.kind not in json_kinds(datatype):
            raise BadRequest(
                f"input {name!r}: values of numpy kind {array.dtype.kind!r} do not fit {V2_TO_TF[datatype]}"
            )
        if dtype.kind in "iu" and array.dtype != dtype:
            info = np.iinfo(dtype)
            if array.min() < info.min or array.max() > info.max:
                raise BadRequest(f"input {name!r}: values are out of range for {V2_TO_TF[datatype]}")
    elif array.ndim == 1 and spec.shape and len(spec.shape) > 1:
        array = array.reshape((0, *(max(d, 0) for d in spec.shape[1:])))
    return array.astype(dtype, copy=False)


def _decode_strings(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_strings(name, v) for v in value]
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True).decode("utf-8")
        except (binascii.Error, TypeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"input {name!r}: a b64 value is not base64 of UTF-8 text: {exc}") from exc
    return value


def encode_predict_response(outputs: Mapping[str, Array], row_format: bool) -> bytes:
    """Serialize predictions (row format) or outputs (columnar format).

    Raises:
        BadRequest: row format with outputs whose first dimensions differ (TF Serving's rule: then use
            the columnar format).
    """
    values = {name: _jsonable(array) for name, array in outputs.items()}
    if not row_format:
        if len(values) == 1:
            return orjson.dumps({"outputs": next(iter(values.values()))}, option=orjson.OPT_SERIALIZE_NUMPY)
        return orjson.dumps({"outputs": values}, option=orjson.OPT_SERIALIZE_NUMPY)
    batch = {array.shape[0] if array.ndim else -1 for array in outputs.values()}
    if len(batch) != 1 or -1 in batch:
        raise BadRequest(
            "the outputs do not share a batch (first) dimension, so they cannot be returned as "
            "'predictions'; use the columnar 'inputs' format"
        )
    if len(values) == 1:
        return orjson.dumps({"predictions": next(iter(values.values()))}, option=orjson.OPT_SERIALIZE_NUMPY)
    columns = {
        name: array.tolist() if isinstance(array, np.ndarray) else array for name, array in values.items()
    }
    predictions = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)


def _jsonable(array: Array) -> Any:
    if array.dtype.kind in "OUS":
        return _strings(array.tolist())
    return np.ascontiguousarray(array)


def _strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def model_status(model: Model) -> dict[str, Any]:
    """``GET /v1/models/{name}``: the served version's state (``AVAILABLE``, ``LOADING`` or ``END``)."""
    if model.ready:
        state, code, message = "AVAILABLE", "OK", ""
    elif model.load_error:
        state, code, message = "END", "UNKNOWN", model.load_error
    else:
        state, code, message = "LOADING", "OK", ""
    return {
        "model_version_status": [
            {
                "version": model.version or "",
                "state": state,
                "status": {"error_code": code, "error_message": message},
            }
        ]
    }


def model_metadata(model: Model) -> dict[str, Any]:
    """``GET /v1/models/{name}/metadata``: the ``serving_default`` signature as TF Serving shows it."""

    def tensor_info(spec: TensorSpec) -> dict[str, Any]:
        return {
            "dtype": V2_TO_TF.get(spec.datatype, "DT_INVALID"),
            "tensor_shape": {
                "dim": [{"size": str(d), "name": ""} for d in spec.shape],
                "unknown_rank": False,
            },
            "name": spec.name,
        }

    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": model.version or ""},
        "metadata": {
            "signature_def": {
                "signature_def": {
                    DEFAULT_SIGNATURE: {
                        "inputs": {name: tensor_info(spec) for name, spec in model.inputs.items()},
                        "outputs": {name: tensor_info(spec) for name, spec in model.outputs.items()},
                        "method_name": "tensorflow/serving/predict",
                    }
                }
            }
        },
    }
