"""PyTriton (Triton's C++ front end, the model in Python) serving onnxruntime sessions.

BENCH_PORT=8080 BENCH_MODELS="tabular=/m/t.onnx,cnn=/m/c.onnx" python pytriton_server.py
"""

import os
from typing import Any

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch  # type: ignore
from pytriton.model_config import ModelConfig, Tensor  # type: ignore
from pytriton.triton import Triton, TritonConfig  # type: ignore

NUMPY = {"tensor(float)": np.float32, "tensor(int64)": np.int64}


def serve(port: int, specs: list[tuple[str, str]]) -> None:
    config = TritonConfig(http_port=port, grpc_port=port + 1, metrics_port=port + 2)
    with Triton(config=config) as triton:
        for name, path in specs:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            names = [o.name for o in session.get_outputs()]

            def infer(
                session: Any = session, names: list[str] = names, **inputs: np.ndarray
            ) -> dict[str, np.ndarray]:
                results = session.run(names, inputs)
                # Triton needs a dimension after the batch one: a [N] output (labels) goes out as [N, 1].
                return {
                    n: r.reshape(-1, 1) if r.ndim == 1 else r for n, r in zip(names, results, strict=True)
                }

            triton.bind(
                model_name=name,
                infer_func=batch(infer),
                inputs=[
                    Tensor(name=i.name, dtype=NUMPY[i.type], shape=tuple(i.shape[1:]))
                    for i in session.get_inputs()
                ],
                outputs=[
                    Tensor(name=o.name, dtype=NUMPY[o.type], shape=tuple(o.shape[1:]) or (1,))
                    for o in session.get_outputs()
                ],
                config=ModelConfig(max_batch_size=64),
                strict=False,
            )
        triton.serve()


if __name__ == "__main__":
    specs = []
    for spec in os.environ["BENCH_MODELS"].split(","):
        name, path = spec.split("=", 1)
        specs.append((name, path))
    serve(int(os.environ["BENCH_PORT"]), specs)
