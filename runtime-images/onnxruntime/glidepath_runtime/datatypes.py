"""Tensor datatypes: Open Inference Protocol names <-> numpy dtypes <-> ONNX Runtime type strings.

The Open Inference Protocol (KServe V2) names tensor element types ``BOOL``, ``UINT8`` … ``UINT64``,
``INT8`` … ``INT64``, ``FP16``, ``FP32``, ``FP64``, ``BF16`` and ``BYTES``. ONNX Runtime reports a
tensor's type as ``tensor(<elem>)`` (``tensor(float)``, ``tensor(int64)``, ``tensor(string)`` …) and
non-tensor values as ``seq(...)``, ``map(...)`` or ``optional(...)``.
"""

from __future__ import annotations

from typing import Final

import numpy as np

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
    if dtype.kind in "OUS":
        return "BYTES"
    for name, candidate in V2_TO_NUMPY.items():
        if candidate == dtype:
            return name
    raise ValueError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


def json_kinds(datatype: str) -> frozenset[str]:
    """The numpy kinds that JSON ``data`` for ``datatype`` may decode to (see :data:`JSON_KINDS`)."""
    for prefix in ("UINT", "INT", "FP"):
        if datatype.startswith(prefix):
            return JSON_KINDS[prefix]
    return JSON_KINDS[datatype]
