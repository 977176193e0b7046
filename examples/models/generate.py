"""Generate the example ONNX model that Glidepath's tests, docs and e2e runs serve.

    python examples/models/generate.py OUTDIR [--variant good|bad|zipmap]

Trains a scikit-learn ``LogisticRegression`` on ``make_classification`` data (fixed seeds) and converts
it with skl2onnx to ``OUTDIR/model.onnx``, then prints ``<sha256>  <path>`` (the ``sha256sum`` format)
for ``spec.model.sha256``. The bytes are deterministic for a given scikit-learn/skl2onnx/onnx install
(opset imports are sorted, since skl2onnx emits them in set order).

Variants:
    good    input ``input`` FP32 ``[-1, 8]``; outputs ``label`` INT64 ``[-1]`` and ``probabilities`` FP32
            ``[-1, 3]`` (converted with ``zipmap=False``, so both are plain tensors).
    bad     the same but trained on 6 features (``input`` FP32 ``[-1, 6]``): every request built for the
            good model gets HTTP 400, a canary that must fail its error-rate analysis. Note the runtime
            answers 400, not 5xx: an error-rate query must count non-2xx codes.
    zipmap  skl2onnx's default conversion: ``output_label`` INT64 and ``output_probability`` as a
            sequence of maps (ZipMap), which the Open Inference Protocol cannot carry; the runtime skips
            it with a warning. For tests of that path and as the example of what not to ship.

Needs scikit-learn, skl2onnx and onnx (the project's dev dependencies), not the runtime.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

Variant = Literal["good", "bad", "zipmap"]
VARIANTS: Final[tuple[Variant, ...]] = ("good", "bad", "zipmap")

INPUT_NAME: Final = "input"
LABEL_OUTPUT: Final = "label"
PROBABILITIES_OUTPUT: Final = "probabilities"
N_FEATURES: Final = 8
BAD_N_FEATURES: Final = 6
N_CLASSES: Final = 3
FILE_NAME: Final = "model.onnx"
SEED: Final = 0


@dataclass(frozen=True, slots=True)
class GeneratedModel:
    """A written model file.

    Attributes:
        path: ``OUTDIR/model.onnx``.
        sha256: SHA-256 of its bytes, lowercase hex.
        n_features: width of its ``input`` tensor (``[-1, n_features]``).
        variant: which variant it is.
    """

    path: Path
    sha256: str
    n_features: int
    variant: Variant


def dataset(n_features: int = N_FEATURES, n_samples: int = 400) -> tuple[npt.NDArray[np.float32], Any]:
    """The deterministic training set: features FP32 ``[n_samples, n_features]`` and int labels
    ``[n_samples]`` in ``0..N_CLASSES-1``."""
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=min(5, n_features),
        n_redundant=0,
        n_classes=N_CLASSES,
        random_state=SEED,
    )
    return features.astype(np.float32), labels


def sample_inputs(rows: int, n_features: int = N_FEATURES, seed: int = 1) -> npt.NDArray[np.float32]:
    """Deterministic request rows, FP32 ``[rows, n_features]``, drawn like the training data."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, size=(rows, n_features)).astype(np.float32)


def build(variant: Variant = "good") -> bytes:
    """The serialized ONNX model of ``variant`` (see the module docs)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
    from sklearn.linear_model import LogisticRegression

    n_features = BAD_N_FEATURES if variant == "bad" else N_FEATURES
    features, labels = dataset(n_features)
    classifier = LogisticRegression(max_iter=1000, random_state=SEED).fit(features, labels)
    zipmap = variant == "zipmap"
    final_types = (
        None
        if zipmap
        else [
            (LABEL_OUTPUT, Int64TensorType([None])),
            (PROBABILITIES_OUTPUT, FloatTensorType([None, N_CLASSES])),
        ]
    )
    onnx_model = convert_sklearn(
        classifier,
        name=f"glidepath-example-{variant}",
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],  # None: dynamic batch
        final_types=final_types,
        options={id(classifier): {"zipmap": zipmap}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    # skl2onnx collects opset imports in a set; sort them so the bytes do not depend on PYTHONHASHSEED.
    opsets = sorted((o.domain, o.version) for o in onnx_model.opset_import)
    del onnx_model.opset_import[:]
    for domain, version in opsets:
        onnx_model.opset_import.add(domain=domain, version=version)
    data: bytes = onnx_model.SerializeToString()
    return data


def generate(outdir: Path, variant: Variant = "good") -> GeneratedModel:
    """Write ``outdir/model.onnx`` (creating ``outdir``) and return where and its sha256."""
    data = build(variant)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / FILE_NAME
    path.write_bytes(data)
    n_features = BAD_N_FEATURES if variant == "bad" else N_FEATURES
    return GeneratedModel(path, hashlib.sha256(data).hexdigest(), n_features, variant)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``generate.py OUTDIR [--variant V]``; prints ``<sha256>  <path>``."""
    parser = argparse.ArgumentParser(description="Generate Glidepath's example ONNX classifier.")
    parser.add_argument("outdir", type=Path, help="directory to write model.onnx into")
    parser.add_argument("--variant", choices=VARIANTS, default="good", help="default %(default)s")
    args = parser.parse_args(argv)
    model = generate(args.outdir, args.variant)
    print(f"{model.sha256}  {model.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
