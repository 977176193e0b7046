"""Small ONNX models built with the ``onnx`` helper API for the runtime tests (generated, never committed)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Open Inference Protocol datatype -> ONNX element type, for every datatype the server serves.
DATATYPES: Final = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}

SLOW_WIDTH: Final = 512
SLOW_LAYERS: Final = 16


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def identity_all_types(path: Path) -> Path:
    """Inputs ``in_<datatype>`` (dims ``[n, m]``, both dynamic) echoed to outputs ``out_<datatype>``."""
    names = [d.lower() for d in DATATYPES]
    graph = helper.make_graph(
        [helper.make_node("Identity", [f"in_{n}"], [f"out_{n}"]) for n in names],
        "identity-all-types",
        [
            helper.make_tensor_value_info(f"in_{n}", t, ["n", "m"])
            for n, t in zip(names, DATATYPES.values(), strict=True)
        ],
        [
            helper.make_tensor_value_info(f"out_{n}", t, ["n", "m"])
            for n, t in zip(names, DATATYPES.values(), strict=True)
        ],
    )
    return _save(graph, path)


def slow(path: Path) -> Path:
    """``x`` FP32 ``[-1, 512]`` through 16 MatMul+Relu layers to ``y``: time grows with the rows
    (about a millisecond per row on one core), for shutdown and back-pressure tests."""
    rng = np.random.default_rng(0)
    nodes, weights, current = [], [], "x"
    for i in range(SLOW_LAYERS):
        w = rng.normal(0, (1 / SLOW_WIDTH) ** 0.5, size=(SLOW_WIDTH, SLOW_WIDTH)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        out = "y" if i == SLOW_LAYERS - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], [out]))
        current = out
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", SLOW_WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", SLOW_WIDTH])],
        weights,
    )
    return _save(graph, path)
