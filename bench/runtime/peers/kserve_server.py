"""KServe ModelServer with a custom onnxruntime ``kserve.Model`` (V2 protocol), as a user would write it.

BENCH_PORT=8080 BENCH_MODELS="tabular=/m/t.onnx,cnn=/m/c.onnx" python kserve_server.py
"""

import os
import uuid
from typing import Any

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # type: ignore

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}


class OnnxModel(Model):  # type: ignore
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return True

    def predict(
        self, payload: InferRequest, headers: Any = None, response_headers: Any = None
    ) -> InferResponse:
        feed = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
        outputs = []
        for name, result in zip(self.names, self.session.run(self.names, feed), strict=True):
            output = InferOutput(name=name, shape=list(result.shape), datatype=DATATYPES[result.dtype])
            output.set_data_from_numpy(result, binary_data=False)
            outputs.append(output)
        return InferResponse(
            model_name=self.name, infer_outputs=outputs, response_id=payload.id or str(uuid.uuid4())
        )


if __name__ == "__main__":
    port = int(os.environ["BENCH_PORT"])
    models = [OnnxModel(*spec.split("=", 1)) for spec in os.environ["BENCH_MODELS"].split(",")]
    ModelServer(http_port=port, grpc_port=port + 1, workers=1).start(models)
