"""Run by test_clients.py in its own process: the ``kserve`` package's REST client against a server.

    python kserve_check.py BASE_URL MODEL VERSION ROWS_JSON

Prints one JSON line: health answers and the outputs of a JSON and a binary inference.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig  # type: ignore[import-untyped]
from kserve.protocol.infer_type import RequestedOutput  # type: ignore[import-untyped]


async def main(base_url: str, model: str, version: str, rows: np.ndarray) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30, retries=0))
    report: dict[str, Any] = {
        "live": await client.is_server_live(base_url),
        "ready": await client.is_server_ready(base_url),
        "model_ready": await client.is_model_ready(base_url, model),
    }
    for mode, binary in (("json", False), ("binary", True)):
        tensor = InferInput(name="input", shape=list(rows.shape), datatype="FP32")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        outputs = [RequestedOutput(n, parameters={"binary_data": binary}) for n in ("label", "probabilities")]
        request = InferRequest(
            model_name=model,
            infer_inputs=[tensor],
            request_id=f"k-{mode}",
            request_outputs=outputs,
            model_version=version,
        )
        response = await client.infer(base_url, request, model_name=model)
        report[mode] = {o.name: o.as_numpy().tolist() for o in response.outputs}
    await client.close()
    return report


if __name__ == "__main__":
    url, name, version, data = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(url, name, version, np.asarray(json.loads(data), dtype=np.float32)))))
