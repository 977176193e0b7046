"""Run the ASGI app on uvicorn.

uvicorn picks its fastest installed HTTP parser and event loop (``httptools``, ``uvloop``) when present
and falls back to ``h11``/asyncio otherwise. Access logging is off by default: at high request rates it
costs more than the inference; ``glidepath_inference_requests_total`` counts requests instead.
"""

from __future__ import annotations

import logging

import uvicorn
from prometheus_client import disable_created_metrics

from glidepath_runtime.app import App
from glidepath_runtime.metrics import RuntimeMetrics
from glidepath_runtime.model import Model


def serve(
    model: Model,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    log_level: str = "info",
    workers: int | None = None,
) -> bool:
    """Serve ``model`` over HTTP until SIGINT/SIGTERM (graceful shutdown) or a failed model load.

    Args:
        model: loaded in the background once the server listens.
        host: listen address (``0.0.0.0`` in a pod, ``127.0.0.1`` in tests).
        port: TCP port.
        access_log: log one line per request.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        workers: inference worker threads (see :class:`~glidepath_runtime.app.App`).

    Returns:
        True after a normal shutdown, False when the model failed to load (the reason is logged and in
        ``model.load_error``).
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series only load Prometheus
    app = App(model, RuntimeMetrics(model.name, model.version), workers=workers)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=access_log,
        log_level=log_level,
        server_header=False,
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    app.on_load_failure = stop
    server.run()
    return model.load_error is None
