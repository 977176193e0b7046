"""Tensor datatypes: Open Inference Protocol names <-> numpy dtypes <-> ONNX Runtime type strings.

The Open Inference Protocol (KServe V2) names tensor element types ``BOOL``, ``UINT8`` … ``UINT64``,
``INT8`` … ``INT64``, ``FP16``, ``FP32``, ``FP64``, ``BF16`` and ``BYTES``. ONNX Runtime reports a
tensor's type as ``tensor(<elem>)`` (``tensor(float)``, ``tensor(int64)``, ``tensor(string)`` …) and
non-tensor values as ``seq(...)``, ``map(...)`` or ``optional(...)``.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from glidepath_runtime.errors import BadRequest

#: ONNX Runtime element type (inside ``tensor(...)``) -> Open Inference Protocol datatype.
ORT_TO_V2: Final[dict[str, str]] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float": "FP32",
    "double": "FP64",
    "bfloat16": "BF16",
    "string": "BYTES",
}

#: Open Inference Protocol datatype -> numpy dtype used to feed ONNX Runtime. ``BF16`` has no numpy
#: dtype and is absent: such inputs are listed in metadata but rejected at inference.
V2_TO_NUMPY: Final[dict[str, np.dtype[np.generic]]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}

#: numpy ``dtype.kind`` values that JSON data may decode to for each datatype family: JSON numbers
#: without a fraction are accepted for floating-point tensors, but not the other way round.
JSON_KINDS: Final[dict[str, frozenset[str]]] = {
    "BOOL": frozenset("b"),
    "UINT": frozenset("iu"),
    "INT": frozenset("iu"),
    "FP": frozenset("iuf"),
    "BYTES": frozenset("U"),
}


def ort_type_to_v2(ort_type: str) -> str | None:
    """Open Inference Protocol datatype of an ONNX Runtime type string.

    ``"tensor(float)"`` -> ``"FP32"``. Returns ``None`` for non-tensor types (``seq(map(int64,
    tensor(float)))`` from a scikit-learn ZipMap, maps, optionals) and unknown element types.
    """
    if not (ort_type.startswith("tensor(") and ort_type.endswith(")")):
        return None
    return ORT_TO_V2.get(ort_type[len("tensor(") : -1])


def numpy_to_v2(dtype: np.dtype[np.generic]) -> str:
    """Open Inference Protocol datatype of a numpy dtype (an ONNX Runtime output).

    Object and unicode arrays (ONNX string tensors) are ``BYTES``.

    Raises:
        ValueError: for a dtype with no Open Inference Protocol counterpart.
    """
    name = _NUMPY_TO_V2.get(dtype)
    if name is not None:
        return name
    if dtype.kind in "OUS":
        return "BYTES"
    raise ValueError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


def json_kinds(datatype: str) -> frozenset[str]:
    """The numpy kinds that JSON ``data`` for ``datatype`` may decode to (see :data:`JSON_KINDS`)."""
    kinds = _JSON_KINDS_BY_DATATYPE.get(datatype)
    if kinds is not None:
        return kinds
    for prefix in ("UINT", "INT", "FP"):
        if datatype.startswith(prefix):
            return JSON_KINDS[prefix]
    return JSON_KINDS[datatype]


_NUMPY_TO_V2: Final = {dtype: name for name, dtype in V2_TO_NUMPY.items() if name != "BYTES"}
_JSON_KINDS_BY_DATATYPE: Final = {
    name: JSON_KINDS[next(p for p in ("UINT", "INT", "FP", "BOOL", "BYTES") if name.startswith(p))]
    for name in V2_TO_NUMPY
}


def raw_to_array(name: str, raw: bytes | memoryview, datatype: str, shape: list[int]) -> npt.NDArray[Any]:
    """Decode a tensor's raw bytes (the binary tensor data extension and gRPC ``raw_input_contents``).

    Fixed-size datatypes are their little-endian elements back to back, ``BOOL`` one byte each;
    ``BYTES`` elements are each a 4-byte little-endian length and that many bytes, decoded as UTF-8
    (ONNX Runtime string tensors hold text). Shapes are checked against the byte count.

    Raises:
        BadRequest: the byte count does not match ``shape``, a ``BYTES`` element is truncated or not
            UTF-8, or ``datatype`` has no numpy type here.
    """
    count = _element_count(shape)
    if datatype == "BYTES":
        return np.array(_split_bytes(name, raw, count), dtype=np.object_).reshape(shape)
    dtype = V2_TO_NUMPY.get(datatype)
    if dtype is None:
        raise BadRequest(f"input {name!r}: datatype {datatype} is not supported by this server")
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise BadRequest(
            f"input {name!r}: shape {shape} of {datatype} needs {expected} bytes of raw data, got {len(raw)}"
        )
    if datatype == "BOOL":
        flags: npt.NDArray[Any] = (np.frombuffer(raw, dtype=np.uint8) != 0).reshape(shape)
        return flags
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(shape)
    if not array.flags.aligned or array.dtype.byteorder not in "=|":
        array = array.astype(dtype)  # an aligned, native-order copy: ONNX Runtime wants both
    return array


def _element_count(shape: list[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


_LENGTH = struct.Struct("<I")


def _split_bytes(name: str, raw: bytes | memoryview, count: int) -> list[str]:
    view = memoryview(raw)
    items: list[str] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(view):
            raise BadRequest(f"input {name!r}: BYTES data ends inside an element's 4-byte length")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise BadRequest(f"input {name!r}: BYTES element of {length} bytes runs past the data")
        try:
            items.append(str(view[offset : offset + length], "utf-8"))
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"input {name!r}: a BYTES element is not valid UTF-8 (ONNX string tensors hold text): {exc}"
            ) from exc
        offset += length
    if offset != len(view):
        raise BadRequest(f"input {name!r}: {len(view) - offset} bytes left over after {count} BYTES elements")
    return items


def array_to_raw(array: npt.NDArray[Any]) -> bytes:
    """Encode a tensor as raw bytes: the inverse of :func:`raw_to_array` (strings as UTF-8)."""
    if array.dtype.kind in "OUS":
        parts: list[bytes] = []
        for item in array.reshape(-1).tolist():
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    if array.dtype == np.bool_:
        return np.ascontiguousarray(array).astype(np.uint8).tobytes()
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def json_array(value: Any, datatype: str) -> npt.NDArray[Any]:
    """``np.asarray`` of JSON data, keeping integers exact: non-negative integers some of which exceed
    ``int64`` (``[0, 2**64 - 1]`` for ``UINT64``) become ``uint64`` instead of float64.

    Raises:
        ValueError, TypeError, OverflowError: ``value`` is not a regular array.
    """
    array = np.asarray(value)
    if array.dtype.kind in "fO" and datatype.startswith(("INT", "UINT")) and array.size:
        flat = np.asarray(value, dtype=np.object_).reshape(-1).tolist()
        if all(type(v) is int and 0 <= v < 2**64 for v in flat):
            exact: npt.NDArray[Any] = np.asarray(value, dtype=np.uint64)
            return exact
    return array
