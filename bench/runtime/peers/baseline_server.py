"""The minimal baseline (35 lines): starlette + uvicorn + orjson + onnxruntime, V2 JSON only, no checks.

BENCH_PORT=8080 BENCH_MODELS="tabular=/m/t.onnx,cnn=/m/c.onnx" python baseline_server.py
"""

import os

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

options = ort.SessionOptions()
options.intra_op_num_threads = int(os.environ.get("INTRA_OP_THREADS", "1"))
sessions = {}
for spec in os.environ["BENCH_MODELS"].split(","):
    name, path = spec.split("=", 1)
    sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


async def infer(request: Request) -> Response:
    session = sessions[request.path_params["name"]]
    body = orjson.loads(await request.body())
    feed = {t["name"]: np.asarray(t["data"], dtype=np.float32).reshape(t["shape"]) for t in body["inputs"]}
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, feed)
    outputs = [
        {
            "name": n,
            "shape": list(r.shape),
            "datatype": "FP32" if r.dtype == np.float32 else "INT64",
            "data": r.reshape(-1),
        }
        for n, r in zip(names, results, strict=False)
    ]
    return Response(
        orjson.dumps({"outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


async def ready(request: Request) -> Response:
    return Response(b'{"ready":true}', media_type="application/json")


app = Starlette(
    routes=[Route("/v2/models/{name}/infer", infer, methods=["POST"]), Route("/v2/health/ready", ready)]
)
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_level="warning", access_log=False)
