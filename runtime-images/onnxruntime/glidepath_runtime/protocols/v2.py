"""Open Inference Protocol (KServe V2) REST codec: JSON tensors and the binary tensor data extension.

Implements the request/response bodies of the Open Inference Protocol REST spec
(https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/):

- inference request: ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "parameters"?,
  "data"}], "outputs"?: [{"name", "parameters"?}]}``; ``data`` is the tensor's elements in row-major
  order, flat or nested;
- inference response: ``{"model_name", "model_version"?, "id", "outputs": [{"name", "shape",
  "datatype", "data"}]}`` with ``data`` flattened row-major;
- server and model metadata.

The binary tensor data extension (as Triton and KServe implement it): when the request carries the
``Inference-Header-Content-Length: N`` header, the body's first ``N`` bytes are the JSON request and the
rest holds the raw data of the inputs whose ``parameters.binary_data_size`` is set, in input order
(see :func:`~glidepath_runtime.datatypes.raw_to_array` for the layout). An output is returned the same
way when it is requested with ``parameters.binary_data: true``, or when the request's
``parameters.binary_data_output`` is true and the output does not say otherwise; the response then has
``Inference-Header-Content-Length`` and its binary outputs carry ``parameters.binary_data_size``.

Large JSON requests are decoded with simdjson when it is installed: numeric ``data`` arrays go straight
into numpy buffers without a Python object per element (about 3x faster than orjson for a 3 MB image);
anything unusual falls back to orjson, which also produces the error messages.

Every client mistake raises :class:`~glidepath_runtime.errors.BadRequest` with a message that names
the input and the problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson

from glidepath_runtime import __version__
from glidepath_runtime.datatypes import (
    V2_TO_NUMPY,
    array_to_raw,
    json_array,
    json_kinds,
    numpy_to_v2,
    raw_to_array,
)
from glidepath_runtime.errors import BadRequest
from glidepath_runtime.model import PLATFORM, Array, Model, TensorSpec

_simdjson: Any
try:  # optional accelerator: the server works (slower on large JSON bodies) without it
    import simdjson as _simdjson
except ImportError:  # pragma: no cover - simdjson is a declared dependency
    _simdjson = None

#: ``name`` in the server metadata response.
SERVER_NAME: Final = "glidepath-runtime"

#: Open Inference Protocol extensions this server implements (``extensions`` in server metadata).
EXTENSIONS: Final[tuple[str, ...]] = ("binary_tensor_data",)

#: The request header that announces the binary tensor data extension, lower-cased.
HEADER_LENGTH_HEADER: Final = "inference-header-content-length"

_KIND_NAMES: Final = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "numbers with a fraction",
    "U": "strings",
    "S": "strings",
    "O": "mixed or null values",
}

#: Bodies up to this size are parsed with orjson alone.
_SIMDJSON_MIN_BYTES: Final = 4096

#: simdjson buffer type per datatype family (int64, uint64 or double elements).
_BUFFER_TYPES: Final = {"INT": ("i", np.dtype(np.int64)), "UINT": ("u", np.dtype(np.uint64))}
_DOUBLE: Final = ("d", np.dtype(np.float64))


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A decoded inference request.

    Attributes:
        id: the request ``id``, or ``None`` when absent.
        parameters: the request-level ``parameters`` object, or ``None``.
        inputs: one array per input, already in the model input's numpy dtype and the request's shape.
        output_names: the requested outputs' names in order, or ``None`` for all.
        binary_outputs: names of outputs to return as binary data; ``all_binary`` covers the rest.
        all_binary: ``parameters.binary_data_output`` of the request: unlisted outputs in binary too.
    """

    id: str | None
    parameters: dict[str, Any] | None
    inputs: dict[str, Array]
    output_names: list[str] | None
    binary_outputs: frozenset[str] = frozenset()
    all_binary: bool = False
    json_outputs: frozenset[str] = frozenset()

    def binary(self, name: str) -> bool:
        """Whether output ``name`` goes back as binary data."""
        if name in self.binary_outputs:
            return True
        return self.all_binary and name not in self.json_outputs


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


def parse_header_length(value: str | None, body_size: int) -> int | None:
    """The ``Inference-Header-Content-Length`` header as an int, or None when absent.

    Raises:
        BadRequest: not a non-negative integer, or larger than the body.
    """
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise BadRequest(f"Inference-Header-Content-Length must be an integer, got {value!r}") from None
    if not 0 <= length <= body_size:
        raise BadRequest(f"Inference-Header-Content-Length {length} is outside the body's {body_size} bytes")
    return length


def decode_infer_request(
    body: bytes, inputs: Mapping[str, TensorSpec], header_length: int | None = None
) -> InferRequest:
    """Parse and check an inference request against the model's input specs.

    Checks the JSON structure, that each input is known to the model, declared with the model's
    datatype, has a valid shape, and that its data is rectangular, of a fitting kind (e.g. no strings
    for ``FP32``; integers within range for ``INT8``) and holds exactly ``prod(shape)`` elements.
    Missing inputs and shape compatibility with the model are checked by :meth:`Model.validate`.

    Args:
        body: the raw request body: UTF-8 JSON, followed by binary tensor data when ``header_length``
            is given.
        inputs: the model's inputs by name.
        header_length: the ``Inference-Header-Content-Length`` (bytes of JSON at the body's start).

    Raises:
        BadRequest: for any of the problems above.
    """
    if header_length is None:
        json_part: bytes | memoryview = body
        binary = memoryview(b"")
    else:
        view = memoryview(body)
        json_part, binary = view[:header_length], view[header_length:]
    request = _loads(json_part)
    if not isinstance(request, dict):
        raise BadRequest("request body must be a JSON object with an 'inputs' array")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    parameters = request.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    all_binary = _bool_parameter(parameters, "binary_data_output", "request")
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest("'inputs' must be a non-empty array of tensors")
    arrays: dict[str, Array] = {}
    offset = 0
    for index, raw in enumerate(raw_inputs):
        name, array, used = _decode_input(index, raw, inputs, binary, offset)
        offset += used
        if name in arrays:
            raise BadRequest(f"input {name!r} is given more than once")
        arrays[name] = array
    if offset != len(binary):
        raise BadRequest(
            f"the body holds {len(binary)} bytes of binary tensor data but the inputs' binary_data_size "
            f"add up to {offset}"
        )
    names, binary_outputs, json_outputs = _decode_outputs(request.get("outputs"))
    return InferRequest(request_id, parameters, arrays, names, binary_outputs, bool(all_binary), json_outputs)


def _loads(data: bytes | memoryview) -> Any:
    """Parse JSON; with simdjson, inputs' flat numeric ``data`` arrays become numpy arrays (for small
    bodies orjson and a list are quicker)."""
    if _simdjson is not None and len(data) > _SIMDJSON_MIN_BYTES:
        try:
            return _loads_simdjson(bytes(data) if isinstance(data, memoryview) else data)
        except Exception:
            pass
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in request body: {exc}") from exc


class _Parser:
    parser: Any = None


def _loads_simdjson(data: bytes) -> Any:
    assert _simdjson is not None
    parser = _Parser.parser
    if parser is None:
        parser = _Parser.parser = _simdjson.Parser()
    try:
        document = parser.parse(data)
    except RuntimeError:  # a previous document is still referenced (e.g. by a traceback): start anew
        parser = _Parser.parser = _simdjson.Parser()
        document = parser.parse(data)
    try:
        if not isinstance(document, _simdjson.Object):
            return _plain(document)
        request: dict[str, Any] = {}
        for key in document:
            value = document[key]
            if key == "inputs" and isinstance(value, _simdjson.Array):
                request[key] = [_fast_input(item) for item in value]
            else:
                request[key] = _plain(value)
            del value
        return request
    finally:
        del document


def _plain(value: Any) -> Any:
    assert _simdjson is not None
    if isinstance(value, _simdjson.Object):
        return value.as_dict()
    if isinstance(value, _simdjson.Array):
        return value.as_list()
    return value


def _fast_input(item: Any) -> Any:
    assert _simdjson is not None
    if not isinstance(item, _simdjson.Object):
        return _plain(item)
    tensor: dict[str, Any] = {}
    datatype = item.get("datatype")
    for key in item:
        value = item[key]
        if key == "data" and isinstance(value, _simdjson.Array) and isinstance(datatype, str):
            tensor[key] = _numeric_buffer(value, datatype)
        else:
            tensor[key] = _plain(value)
        del value
    return tensor


def _numeric_buffer(data: Any, datatype: str) -> Any:
    """A flat numeric array as a 1-D numpy array, or as a list when it is anything else."""
    assert _simdjson is not None
    if datatype in ("BOOL", "BYTES") or len(data) == 0 or isinstance(data[0], _simdjson.Array):
        return data.as_list()
    of_type, dtype = _BUFFER_TYPES.get(datatype.rstrip("0123456789"), _DOUBLE)
    try:
        return np.frombuffer(data.as_buffer(of_type=of_type), dtype=dtype)
    except (TypeError, ValueError):  # mixed kinds, bools, nulls, out of range: the slow path explains
        return data.as_list()


def _bool_parameter(parameters: dict[str, Any] | None, key: str, where: str) -> bool | None:
    if not parameters or key not in parameters:
        return None
    value = parameters[key]
    if not isinstance(value, bool):
        raise BadRequest(f"{where} parameter {key!r} must be true or false, got {value!r}")
    return value


def _decode_input(
    index: int, raw: object, specs: Mapping[str, TensorSpec], binary: memoryview, offset: int
) -> tuple[str, Array, int]:
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
        raise BadRequest(f"input {name!r}: datatype {datatype} is not supported by this server")
    parameters = raw.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest(f"input {name!r}: 'parameters' must be an object")
    if parameters and "shared_memory_region" in parameters:
        raise BadRequest(f"input {name!r}: the shared memory extension is not supported by this server")
    size = parameters.get("binary_data_size") if parameters else None
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"input {name!r}: 'binary_data_size' must be a non-negative integer")
        if "data" in raw:
            raise BadRequest(f"input {name!r}: give either 'data' or 'binary_data_size', not both")
        if offset + size > len(binary):
            raise BadRequest(
                f"input {name!r}: binary_data_size {size} runs past the body's {len(binary)} bytes of "
                "binary data (is the Inference-Header-Content-Length header right?)"
            )
        return name, raw_to_array(name, binary[offset : offset + size], datatype, shape), size
    if "data" not in raw:
        raise BadRequest(f"input {name!r}: 'data' is missing")
    data = raw["data"]
    if not isinstance(data, list | np.ndarray):
        raise BadRequest(f"input {name!r}: 'data' must be an array (flat or nested, row-major)")
    return name, _to_array(name, data, shape, datatype, dtype), 0


def _to_array(
    name: str, data: list[Any] | Array, shape: list[int], datatype: str, dtype: np.dtype[Any]
) -> Array:
    if isinstance(data, np.ndarray):
        array = data
    else:
        try:
            array = json_array(data, datatype)
        except (ValueError, TypeError, OverflowError) as exc:
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


def _decode_outputs(raw: object) -> tuple[list[str] | None, frozenset[str], frozenset[str]]:
    if raw is None:
        return None, frozenset(), frozenset()
    if not isinstance(raw, list):
        raise BadRequest("'outputs' must be an array of {\"name\": ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    json: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f"outputs[{index}] must be an object with a string 'name'")
        name = item["name"]
        parameters = item.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise BadRequest(f"output {name!r}: 'parameters' must be an object")
        if parameters:
            if parameters.get("classification"):
                raise BadRequest(f"output {name!r}: the classification extension is not supported")
            if "shared_memory_region" in parameters:
                raise BadRequest(f"output {name!r}: the shared memory extension is not supported")
            wants_binary = _bool_parameter(parameters, "binary_data", f"output {name!r}")
            if wants_binary is True:
                binary.add(name)
            elif wants_binary is False:
                json.add(name)
        names.append(name)
    return names, frozenset(binary), frozenset(json)


def encode_infer_response(
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Mapping[str, Array],
    request: InferRequest | None = None,
) -> tuple[bytes, int | None]:
    """Serialize an inference response.

    Args:
        model_name: ``model_name`` of the response.
        model_version: ``model_version``; omitted when ``None``.
        request_id: echoed as ``id``; omitted when ``None``.
        outputs: output arrays by name; each becomes ``{"name", "shape", "datatype", "data"}`` with
            ``data`` flattened row-major, or ``parameters.binary_data_size`` for binary outputs.
            Non-finite floats become JSON ``null`` in JSON data (JSON has no NaN).
        request: the decoded request, which says which outputs go back as binary data.

    Returns:
        The body, and the JSON part's length when binary data follows it (``None`` for pure JSON).

    Raises:
        BadRequest: a ``BYTES`` output is not UTF-8 text and was not requested as binary data.
        ValueError: an output's dtype has no Open Inference Protocol datatype (a server-side problem).
    """
    body: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        body["model_version"] = model_version
    if request_id is not None:
        body["id"] = request_id
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in outputs.items():
        tensor: dict[str, Any] = {
            "name": name,
            "shape": list(array.shape),
            "datatype": numpy_to_v2(array.dtype),
        }
        if request is not None and request.binary(name):
            raw = array_to_raw(array)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = _flat(name, array)
        tensors.append(tensor)
    body["outputs"] = tensors
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _flat(name: str, array: Array) -> Array | list[Any]:
    """Row-major flat data: a contiguous 1-D array that orjson writes natively, or a list for strings."""
    if array.dtype.kind in "OUS":
        try:
            return [v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1).tolist()]
        except UnicodeDecodeError:
            raise BadRequest(
                f"output {name!r} holds bytes that are not UTF-8 text; request it with "
                'parameters {"binary_data": true}'
            ) from None
    return np.ascontiguousarray(array).reshape(-1)


def error_body(message: str) -> bytes:
    """The Open Inference Protocol error response body ``{"error": "<message>"}``."""
    return orjson.dumps({"error": message})


def dumps(document: Any) -> bytes:
    """JSON-encode a response document (metadata, health)."""
    return orjson.dumps(document)
