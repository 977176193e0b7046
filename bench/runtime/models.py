"""The benchmark's models, generated from packages (no downloads), deterministic for one install.

- ``tabular``: scikit-learn ``RandomForestClassifier`` (100 trees, 20 features, 3 classes) converted with
  skl2onnx (``zipmap=False``): input ``input`` FP32 ``[-1, 20]``; outputs ``label`` INT64 ``[-1]`` and
  ``probabilities`` FP32 ``[-1, 3]``.
- ``cnn``: a ResNet-18-shaped graph (conv 7x7/2, max-pool, 4 stages of two basic blocks with 64, 128, 256,
  512 channels, global average pool, a 1000-way Gemm) built with the ``onnx`` helper API and random
  weights (11.7 M parameters, 46.8 MB): input ``input`` FP32 ``[-1, 3, 224, 224]``; output ``logits``
  FP32 ``[-1, 1000]``.

    python -m bench.runtime.models OUTDIR      # writes OUTDIR/tabular/model.onnx, OUTDIR/cnn/model.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

TABULAR_FEATURES: Final = 20
TABULAR_TREES: Final = 100
TABULAR_CLASSES: Final = 3
CNN_INPUT_SHAPE: Final = (3, 224, 224)
CNN_CLASSES: Final = 1000
SEED: Final = 0


def tabular_rows(rows: int, seed: int = 1) -> npt.NDArray[np.float32]:
    """Deterministic FP32 ``[rows, 20]`` request rows."""
    return np.random.default_rng(seed).normal(0.0, 2.0, size=(rows, TABULAR_FEATURES)).astype(np.float32)


def cnn_image(batch: int = 1, seed: int = 1) -> npt.NDArray[np.float32]:
    """A deterministic FP32 ``[batch, 3, 224, 224]`` input."""
    return np.random.default_rng(seed).normal(0.0, 1.0, size=(batch, *CNN_INPUT_SHAPE)).astype(np.float32)


def build_tabular() -> bytes:
    """The serialized RandomForest model."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    features, labels = make_classification(
        n_samples=2000,
        n_features=TABULAR_FEATURES,
        n_informative=10,
        n_classes=TABULAR_CLASSES,
        random_state=SEED,
    )
    forest = RandomForestClassifier(n_estimators=TABULAR_TREES, random_state=SEED, n_jobs=1)
    forest.fit(features.astype(np.float32), labels)
    model = convert_sklearn(
        forest,
        name="bench-tabular",
        initial_types=[("input", FloatTensorType([None, TABULAR_FEATURES]))],
        final_types=[
            ("label", Int64TensorType([None])),
            ("probabilities", FloatTensorType([None, TABULAR_CLASSES])),
        ],
        options={id(forest): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    data: bytes = model.SerializeToString()
    return data


def build_cnn() -> bytes:
    """The serialized ResNet-18-shaped model with random weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)
    nodes: list[Any] = []
    weights: list[Any] = []
    counter = iter(range(1_000_000))

    def weight(shape: tuple[int, ...], scale: float) -> str:
        name = f"w{next(counter)}"
        data = rng.normal(0.0, scale, size=shape).astype(np.float32)
        weights.append(numpy_helper.from_array(data, name))
        return name

    def conv(x: str, c_in: int, c_out: int, kernel: int, stride: int, relu: bool) -> str:
        # Conv with bias (batch norm folded in, as exported inference graphs have it).
        fan_in = c_in * kernel * kernel
        w = weight((c_out, c_in, kernel, kernel), (2.0 / fan_in) ** 0.5)
        b = weight((c_out,), 0.01)
        out = f"t{next(counter)}"
        pad = kernel // 2
        nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [out],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[pad, pad, pad, pad],
            )
        )
        if not relu:
            return out
        relu_out = f"t{next(counter)}"
        nodes.append(helper.make_node("Relu", [out], [relu_out]))
        return relu_out

    def block(x: str, c_in: int, c_out: int, stride: int) -> str:
        y = conv(x, c_in, c_out, 3, stride, relu=True)
        y = conv(y, c_out, c_out, 3, 1, relu=False)
        shortcut = x if stride == 1 and c_in == c_out else conv(x, c_in, c_out, 1, stride, relu=False)
        added, out = f"t{next(counter)}", f"t{next(counter)}"
        nodes.append(helper.make_node("Add", [y, shortcut], [added]))
        nodes.append(helper.make_node("Relu", [added], [out]))
        return out

    x = conv("input", 3, 64, 7, 2, relu=True)
    pooled = f"t{next(counter)}"
    nodes.append(
        helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    )
    x, channels = pooled, 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        x = block(x, channels, c_out, stride)
        x = block(x, c_out, c_out, 1)
        channels = c_out
    gap, flat = f"t{next(counter)}", f"t{next(counter)}"
    nodes.append(helper.make_node("GlobalAveragePool", [x], [gap]))
    nodes.append(helper.make_node("Flatten", [gap], [flat], axis=1))
    fc_w = weight((CNN_CLASSES, channels), (1.0 / channels) ** 0.5)
    fc_b = weight((CNN_CLASSES,), 0.01)
    nodes.append(helper.make_node("Gemm", [flat, fc_w, fc_b], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes,
        "bench-cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *CNN_INPUT_SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CNN_CLASSES])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def generate(outdir: Path) -> dict[str, Path]:
    """Write ``outdir/{tabular,cnn}/model.onnx`` unless present; returns their directories by name."""
    dirs = {}
    for name, build in (("tabular", build_tabular), ("cnn", build_cnn)):
        directory = outdir / name
        path = directory / "model.onnx"
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(build())
            tmp.rename(path)
        dirs[name] = directory
    return dirs


if __name__ == "__main__":
    for model_name, directory in generate(Path(sys.argv[1])).items():
        print(model_name, directory)
