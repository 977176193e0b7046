"""Open Inference Protocol (KServe V2) REST codec, JSON tensors.

Implements the request/response bodies of the Open Inference Protocol REST spec
(https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/):

- inference request: ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "parameters"?,
  "data"}], "outputs"?: [{"name", "parameters"?}]}``; ``data`` is the tensor's elements in row-major
  order, flat or nested;
- inference response: ``{"model_name", "model_version"?, "id", "outputs": [{"name", "shape",
  "datatype", "data"}]}`` with ``data`` flattened row-major;
- server and model metadata.

Every client mistake raises :class:`~glidepath_runtime.errors.BadRequest` with a message that names
the input and the problem. The binary tensor data extension is not implemented yet (so ``extensions`` is
empty).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson

from glidepath_runtime import __version__
from glidepath_runtime.datatypes import V2_TO_NUMPY, json_kinds, numpy_to_v2
from glidepath_runtime.errors import BadRequest
from glidepath_runtime.model import PLATFORM, Array, Model, TensorSpec

#: ``name`` in the server metadata response.
SERVER_NAME: Final = "glidepath-runtime"

#: Open Inference Protocol extensions this server implements (``extensions`` in server metadata).
EXTENSIONS: Final[tuple[str, ...]] = ()

_KIND_NAMES: Final = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "numbers with a fraction",
    "U": "strings",
    "S": "strings",
    "O": "mixed or null values",
}


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A decoded inference request.

    Attributes:
        id: the request ``id``, or ``None`` when absent.
        parameters: the request-level ``parameters`` object, or ``None``.
        inputs: one array per input, already in the model input's numpy dtype and the request's shape.
        output_names: the requested outputs' names in order, or ``None`` for all.
    """

    id: str | None
    parameters: dict[str, Any] | None
    inputs: dict[str, Array]
    output_names: list[str] | None


def server_metadata() -> dict[str, Any]:
    """The ``GET /v2`` server metadata response: ``name``, ``version``, ``extensions``."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}


def model_metadata(model: Model) -> dict[str, Any]:
    """The ``GET /v2/models/{name}[/versions/{v}]`` model metadata response.

    ``inputs``/``outputs`` hold ``{"name", "datatype", "shape"}`` with ``-1`` for dynamic dims; outputs
    that are not tensors (ZipMap) are left out. The model must be loaded.
    """
    return {
        "name": model.name,
        "versions": model.versions,
        "platform": PLATFORM,
        "inputs": [spec.metadata() for spec in model.inputs.values()],
        "outputs": [spec.metadata() for spec in model.outputs.values()],
    }


def decode_infer_request(body: bytes, inputs: Mapping[str, TensorSpec]) -> InferRequest:
    """Parse and check a JSON inference request against the model's input specs.

    Checks the JSON structure, that each input is known to the model, declared with the model's
    datatype, has a valid shape, and that its data is rectangular, of a fitting kind (e.g. no strings
    for ``FP32``; integers within range for ``INT8``) and holds exactly ``prod(shape)`` elements.
    Missing inputs and shape compatibility with the model are checked by :meth:`Model.predict`.

    Args:
        body: the raw request body (UTF-8 JSON).
        inputs: the model's inputs by name.

    Raises:
        BadRequest: for any of the problems above.
    """
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in request body: {exc}") from exc
    if not isinstance(request, dict):
        raise BadRequest("request body must be a JSON object with an 'inputs' array")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    parameters = request.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest("'inputs' must be a non-empty array of tensors")
    arrays: dict[str, Array] = {}
    for index, raw in enumerate(raw_inputs):
        name, array = _decode_input(index, raw, inputs)
        if name in arrays:
            raise BadRequest(f"input {name!r} is given more than once")
        arrays[name] = array
    return InferRequest(request_id, parameters, arrays, _decode_output_names(request.get("outputs")))


def _decode_input(index: int, raw: object, specs: Mapping[str, TensorSpec]) -> tuple[str, Array]:
    if not isinstance(raw, dict):
        raise BadRequest(f"inputs[{index}] must be an object with name, shape, datatype and data")
    name = raw.get("name")
    if not isinstance(name, str):
        raise BadRequest(f"inputs[{index}]: 'name' must be a string")
    spec = specs.get(name)
    if spec is None:
        raise BadRequest(f"unknown input {name!r}; the model's inputs are {list(specs)}")
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(f"input {name!r}: 'shape' must be an array of non-negative integers, got {shape!r}")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str):
        raise BadRequest(f"input {name!r}: 'datatype' must be a string such as {spec.datatype!r}")
    if datatype != spec.datatype:
        raise BadRequest(f"input {name!r}: datatype {datatype} does not match the model's {spec.datatype}")
    dtype = V2_TO_NUMPY.get(datatype)
    if dtype is None:
        raise BadRequest(f"input {name!r}: datatype {datatype} is not supported in JSON by this server")
    if "data" not in raw:
        raise BadRequest(f"input {name!r}: 'data' is missing")
    data = raw["data"]
    if not isinstance(data, list):
        raise BadRequest(f"input {name!r}: 'data' must be an array (flat or nested, row-major)")
    return name, _to_array(name, data, shape, datatype, dtype)


def _to_array(name: str, data: list[Any], shape: list[int], datatype: str, dtype: np.dtype[Any]) -> Array:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input {name!r}: 'data' is not a regular (rectangular) array: {exc}") from exc
    expected = math.prod(shape)
    if array.size != expected:
        raise BadRequest(
            f"input {name!r}: shape {shape} needs {expected} elements but 'data' has {array.size}"
        )
    if array.size:
        if array.dtype.kind not in json_kinds(datatype):
            kind = _KIND_NAMES.get(array.dtype.kind, f"numpy kind {array.dtype.kind!r}")
            raise BadRequest(f"input {name!r}: 'data' holds {kind}, which do not fit datatype {datatype}")
        if dtype.kind in "iu" and array.dtype != dtype:
            info = np.iinfo(dtype)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise BadRequest(
                    f"input {name!r}: values [{low}, {high}] are out of range for {datatype} "
                    f"[{info.min}, {info.max}]"
                )
    if datatype == "BYTES":
        return array.astype(np.object_).reshape(shape)
    return array.astype(dtype, copy=False).reshape(shape)


def _decode_output_names(raw: object) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest("'outputs' must be an array of {\"name\": ...} objects")
    names: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f"outputs[{index}] must be an object with a string 'name'")
        names.append(item["name"])
    return names


def encode_infer_response(
    model_name: str, model_version: str | None, request_id: str | None, outputs: Mapping[str, Array]
) -> bytes:
    """Serialize an inference response.

    Args:
        model_name: ``model_name`` of the response.
        model_version: ``model_version``; omitted when ``None``.
        request_id: echoed as ``id``; a fresh UUID4 when ``None`` (so every response can be traced).
        outputs: output arrays by name; each becomes ``{"name", "shape", "datatype", "data"}`` with
            ``data`` flattened row-major. Non-finite floats become JSON ``null`` (JSON has no NaN).

    Raises:
        ValueError: an output's dtype has no Open Inference Protocol datatype (a server-side problem).
    """
    body: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        body["model_version"] = model_version
    body["id"] = request_id if request_id is not None else str(uuid.uuid4())
    body["outputs"] = [
        {
            "name": name,
            "shape": list(array.shape),
            "datatype": numpy_to_v2(array.dtype),
            "data": _flat(array),
        }
        for name, array in outputs.items()
    ]
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _flat(array: Array) -> Array | list[Any]:
    """Row-major flat data: a contiguous 1-D array that orjson writes natively, or a list for strings."""
    if array.dtype.kind in "OUS":
        return [v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1).tolist()]
    return np.ascontiguousarray(array).reshape(-1)


def error_body(message: str) -> bytes:
    """The Open Inference Protocol error response body ``{"error": "<message>"}``."""
    return orjson.dumps({"error": message})


def dumps(document: Any) -> bytes:
    """JSON-encode a response document (metadata, health)."""
    return orjson.dumps(document)
