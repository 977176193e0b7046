"""The raw ASGI application: routing, request bodies, status codes and metrics.

Routes (Open Inference Protocol REST, plus Prometheus):

===========================================================  ======  =================================
path                                                         method  answer
===========================================================  ======  =================================
``/v2/health/live``                                          GET     200 ``{"live": true}`` always
``/v2/health/ready``                                         GET     200 ``{"ready": true}``; 503 loading
``/v2``                                                      GET     server metadata
``/v2/models/{name}[/versions/{v}]``                         GET     model metadata (503 while loading)
``/v2/models/{name}[/versions/{v}]/ready``                   GET     200 ``{"ready": true}``; 503 loading
``/v2/models/{name}[/versions/{v}]/infer``                   POST    inference (JSON tensors)
``/metrics``                                                 GET     Prometheus text format
===========================================================  ======  =================================

Errors are ``{"error": "<message>"}`` with 400 (bad request), 404 (unknown model, version or path),
405 (wrong method), 413 (body over ``max_body_bytes``), 503 (model not ready), and 500 only for server
bugs. Decoding, the model run and encoding happen in a worker thread so the event loop keeps
answering health checks during long inferences.

The model loads in the background after the lifespan startup (liveness answers at once, readiness
when loaded); if loading fails, ``on_load_failure`` is called so the server can exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from glidepath_runtime.errors import InferenceError, MethodNotAllowed, NotFound, NotReady, PayloadTooLarge
from glidepath_runtime.metrics import PROTOCOL_V2, RuntimeMetrics
from glidepath_runtime.model import Model
from glidepath_runtime.protocols import v2

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Default upper bound of a request body: 64 MiB.
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024

_JSON: Final = b"application/json"
_LIVE: Final = v2.dumps({"live": True})
_READY: Final = v2.dumps({"ready": True})


class ClientDisconnected(Exception):
    """The client went away before sending its whole body."""


class App:
    """The ASGI 3 application serving one :class:`~glidepath_runtime.model.Model`.

    Args:
        model: the model; loaded in the background at lifespan startup unless already loaded.
        metrics: where inference requests are counted and timed.
        max_body_bytes: larger request bodies get 413.
        workers: threads that decode, run and encode inference requests (ONNX Runtime releases the
            GIL while it runs); default: the number of CPUs, at least 2.
        on_load_failure: called (on the event loop) when the background load fails.
    """

    def __init__(
        self,
        model: Model,
        metrics: RuntimeMetrics,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        workers: int | None = None,
        on_load_failure: Callable[[], None] | None = None,
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.on_load_failure = on_load_failure
        self.executor = ThreadPoolExecutor(
            max_workers=workers or max(2, os.cpu_count() or 1), thread_name_prefix="glidepath-infer"
        )
        self._load_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # --- lifespan ---------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if not self.model.ready:
                    self._load_task = asyncio.create_task(self._load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._load_task is not None and not self._load_task.done():
                    self._load_task.cancel()
                self.executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, self.model.load)
        except Exception:
            log.error(
                "model %r failed to load from %s: %s", self.model.name, self.model.path, self.model.load_error
            )
            log.debug("load failure", exc_info=True)
            if self.on_load_failure is not None:
                self.on_load_failure()

    # --- HTTP -------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        parts = scope["path"].strip("/").split("/")
        if parts[0] == "v2":
            if len(parts) >= 3 and parts[1] == "models" and parts[-1] == "infer":
                await self._infer_route(method, parts, receive, send)
                return
            try:
                status, body = self._v2_get(method, parts)
            except InferenceError as exc:
                status, body = exc.status, v2.error_body(str(exc))
            await _respond(send, status, body)
        elif parts == ["metrics"] and method == "GET":
            body, content_type = self.metrics.exposition()
            await _respond(send, 200, body, content_type.encode())
        else:
            await _respond(send, 404, v2.error_body(f"no route for {method} {scope['path']}"))

    def _v2_get(self, method: str, parts: list[str]) -> tuple[int, bytes]:
        """Answer the non-inference ``/v2`` routes. Raises InferenceError subclasses for errors."""
        n = len(parts)
        if parts == ["v2", "health", "live"]:
            _require(method, "GET")
            return 200, _LIVE
        if parts == ["v2", "health", "ready"]:
            _require(method, "GET")
            self._require_ready()
            return 200, _READY
        if parts == ["v2"]:
            _require(method, "GET")
            return 200, v2.dumps(v2.server_metadata())
        if n >= 3 and parts[1] == "models":
            rest = parts[3:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            if rest in ([], ["ready"]):
                _require(method, "GET")
                self._match(parts[2], version)
                self._require_ready()
                if rest == ["ready"]:
                    return 200, _READY
                return 200, v2.dumps(v2.model_metadata(self.model))
        raise NotFound(f"no route for {method} /{'/'.join(parts)}")

    def _match(self, name: str, version: str | None) -> None:
        """Raise NotFound unless ``name`` (and ``version``, when given) are the served model's."""
        if name != self.model.name:
            raise NotFound(f"unknown model {name!r}; this server serves {self.model.name!r}")
        if version is not None and version != self.model.version:
            raise NotFound(
                f"unknown version {version!r} of model {name!r}; it serves versions {self.model.versions}"
            )

    def _require_ready(self) -> None:
        if not self.model.ready:
            state = f"failed to load: {self.model.load_error}" if self.model.load_error else "loading"
            raise NotReady(f"model {self.model.name!r} is not ready ({state})")

    async def _infer_route(self, method: str, parts: list[str], receive: Receive, send: Send) -> None:
        """``POST /v2/models/{name}[/versions/{v}]/infer``, counted and timed in the metrics."""
        start = time.perf_counter()
        try:
            if len(parts) == 4:
                version = None
            elif len(parts) == 6 and parts[3] == "versions":
                version = parts[4]
            else:
                raise NotFound(f"no route for {method} /{'/'.join(parts)}")
            _require(method, "POST")
            self._match(parts[2], version)
            self._require_ready()
            body = await _read_body(receive, self.max_body_bytes)
            loop = asyncio.get_running_loop()
            status, response = 200, await loop.run_in_executor(self.executor, self._infer, body)
        except InferenceError as exc:
            status, response = exc.status, v2.error_body(str(exc))
        except ClientDisconnected:
            self.metrics.observe(PROTOCOL_V2, 499, time.perf_counter() - start)
            return
        except Exception as exc:
            log.exception("inference failed")
            status, response = 500, v2.error_body(f"internal error: {type(exc).__name__}: {exc}")
        await _respond(send, status, response)
        self.metrics.observe(PROTOCOL_V2, status, time.perf_counter() - start)

    def _infer(self, body: bytes) -> bytes:
        """Decode, run and encode one JSON inference request (in a worker thread)."""
        request = v2.decode_infer_request(body, self.model.inputs)
        outputs = self.model.predict(request.inputs, request.output_names)
        return v2.encode_infer_response(self.model.name, self.model.version, request.id, outputs)


def _require(method: str, allowed: str) -> None:
    if method != allowed:
        raise MethodNotAllowed(f"method {method} not allowed; use {allowed}")


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body.

    Raises:
        PayloadTooLarge: over ``limit`` bytes.
        ClientDisconnected: the client went away.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = _JSON) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
