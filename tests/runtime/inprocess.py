"""Drive the HTTP routes in-process (no sockets, no mocks: real models and ONNX Runtime sessions)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from glidepath_runtime.config import BatchingSettings, SessionSettings
from glidepath_runtime.http import Pending, Request, Response
from glidepath_runtime.metrics import RuntimeMetrics
from glidepath_runtime.model import Model
from glidepath_runtime.rest import RestRouter
from glidepath_runtime.scheduler import Scheduler
from glidepath_runtime.service import InferenceService, ServedModel


def make_router(
    path: Path,
    *,
    name: str = "m",
    version: str | None = "1",
    load: bool = True,
    batching: BatchingSettings | None = None,
    max_queue_size: int = 256,
    max_body_bytes: int = 64 * 1024 * 1024,
) -> RestRouter:
    """A router serving one model from ``path`` (loaded unless ``load`` is false)."""
    model = Model(name, path, version, session=SessionSettings(intra_op_threads=1))
    if load:
        model.load()
    metrics = RuntimeMetrics()
    model_metrics = metrics.for_model(name, version)
    scheduler = Scheduler(model, model_metrics, batching=batching, max_queue_size=max_queue_size)
    service = InferenceService([ServedModel(model, scheduler, model_metrics)], metrics)
    return RestRouter(service, max_body_bytes)


def call_raw(
    router: RestRouter,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One request through the router on a fresh event loop; waits for pending inference."""
    request = Request(
        method,
        path,
        {k.lower().encode(): v.encode() for k, v in (headers or {}).items()},
        body,
        time.perf_counter(),
    )

    async def run() -> Response:
        result = router(request)
        if isinstance(result, Pending):
            await asyncio.wait([result.future])
            return result.finish(result.future)
        return result

    return asyncio.run(run())


def call(router: RestRouter, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Like :func:`call_raw` with a JSON body (unless bytes); returns status and parsed JSON."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    response = call_raw(router, method, path, raw)
    return response.status, json.loads(response.body) if response.body else None
