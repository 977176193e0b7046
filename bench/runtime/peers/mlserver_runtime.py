"""MLServer custom runtime running onnxruntime (the model's path is ``parameters.uri``)."""

import numpy as np
import onnxruntime as ort
from mlserver import MLModel  # type: ignore
from mlserver.codecs import NumpyCodec  # type: ignore
from mlserver.types import InferenceRequest, InferenceResponse  # type: ignore


class OnnxRuntime(MLModel):  # type: ignore
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            self.settings.parameters.uri, options, providers=["CPUExecutionProvider"]
        )
        self.names = [o.name for o in self.session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feed = {tensor.name: NumpyCodec.decode_input(tensor) for tensor in payload.inputs}
        feed = {name: np.ascontiguousarray(value) for name, value in feed.items()}
        results = self.session.run(self.names, feed)
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[
                NumpyCodec.encode_output(name, result)
                for name, result in zip(self.names, results, strict=True)
            ],
        )
