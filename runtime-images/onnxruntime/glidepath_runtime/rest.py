"""HTTP routes: Open Inference Protocol REST (``/v2``), TF Serving REST (``/v1``), metrics, OpenAPI.

===========================================================  ======  =================================
path                                                         method  answer
===========================================================  ======  =================================
``/v2/health/live``                                          GET     200 ``{"live": true}`` always
``/v2/health/ready``                                         GET     200 ``{"ready": true}``; 503
``/v2``                                                      GET     server metadata
``/v2/models/{name}[/versions/{v}]``                         GET     model metadata (503 while loading)
``/v2/models/{name}[/versions/{v}]/ready``                   GET     200 ``{"ready": true}``; 503
``/v2/models/{name}[/versions/{v}]/infer``                   POST    inference (JSON or binary tensors)
``/v1/models/{name}[/versions/{v}]``                         GET     TF Serving model status
``/v1/models/{name}[/versions/{v}]/metadata``                GET     TF Serving signature
``/v1/models/{name}[/versions/{v}]:predict``                 POST    TF Serving predict
``/metrics``                                                 GET     Prometheus text format
``/openapi.json``                                            GET     this API as OpenAPI 3.0
===========================================================  ======  =================================

Errors are ``{"error": "<message>"}`` with 400 (bad request), 404 (unknown model, version or path),
405 (wrong method), 413 (body over the limit), 503 (not ready, or the model's queue is full: with
``Retry-After``), and 500 only for server bugs. Request bodies may be ``gzip`` or ``deflate``
``Content-Encoding``; inference responses are compressed when the client's ``Accept-Encoding`` asks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any, Final

from glidepath_runtime import openapi
from glidepath_runtime.errors import (
    BadRequest,
    InferenceError,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
)
from glidepath_runtime.http import JSON, Pending, Request, Response, error_response
from glidepath_runtime.metrics import PROTOCOL_TFSERVING, PROTOCOL_V2, ModelMetrics
from glidepath_runtime.protocols import tfserving, v2
from glidepath_runtime.service import InferenceService, ServedModel

log = logging.getLogger(__name__)

_LIVE: Final = v2.dumps({"live": True})
_READY: Final = v2.dumps({"ready": True})
_OCTET_STREAM: Final = b"application/octet-stream"
_COMPRESS_MIN_BYTES: Final = 1024


class RestRouter:
    """The HTTP handler (see the module documentation).

    Args:
        service: the models.
        max_body_bytes: limit of a decompressed request body.
    """

    def __init__(self, service: InferenceService, max_body_bytes: int = 64 * 1024 * 1024) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self._openapi: bytes | None = None

    def __call__(self, request: Request) -> Response | Pending:
        path = request.path
        try:
            if path.startswith("/v2"):
                return self._v2(request, path.strip("/").split("/"))
            if path.startswith("/v1/models/"):
                return self._v1(request, path[len("/v1/models/") :])
            if path == "/metrics":
                _require(request, "GET")
                body, content_type = self.service.metrics.exposition()
                return Response(200, body, content_type.encode())
            if path == "/openapi.json":
                _require(request, "GET")
                if self._openapi is None:
                    self._openapi = v2.dumps(openapi.document(list(self.service.models)))
                return Response(200, self._openapi)
            raise NotFound(f"no route for {request.method} {path}")
        except InferenceError as exc:
            return _error(exc)

    # --- Open Inference Protocol ------------------------------------------------------------------

    def _v2(self, request: Request, parts: list[str]) -> Response | Pending:
        n = len(parts)
        if n >= 3 and parts[1] == "models":
            name, rest = parts[2], parts[3:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            if rest == ["infer"]:
                return self._v2_infer(request, name, version)
            if rest in ([], ["ready"]):
                _require(request, "GET")
                served = self.service.find(name, version)
                if rest == ["ready"]:
                    if not self.service.is_ready(served):
                        raise self.service.readiness_error(served)
                    return Response(200, _READY)
                self.service.require_loaded(served)
                return Response(200, v2.dumps(v2.model_metadata(served.model)))
        elif parts == ["v2", "health", "live"]:
            _require(request, "GET")
            return Response(200, _LIVE)
        elif parts == ["v2", "health", "ready"]:
            _require(request, "GET")
            if not self.service.ready():
                raise self.service.readiness_error()
            return Response(200, _READY)
        elif parts == ["v2"]:
            _require(request, "GET")
            return Response(200, v2.dumps(v2.server_metadata()))
        raise NotFound(f"no route for {request.method} {request.path}")

    def _v2_infer(self, request: Request, name: str, version: str | None) -> Response | Pending:
        metrics = (self.service.lookup(name) or self.service.default).metrics
        metrics.started()
        try:
            _require(request, "POST")
            served = self.service.find(name, version)
            self.service.require_loaded(served)
            body = self._body(request)
            header_length = v2.parse_header_length(
                request.header(b"inference-header-content-length"), len(body)
            )
            decoded = v2.decode_infer_request(body, served.model.inputs, header_length)
            result = served.scheduler.run_or_submit(decoded.inputs, decoded.output_names)
        except Exception as exc:
            return _failed(metrics, PROTOCOL_V2, request, exc)
        if isinstance(result, dict):
            return self._v2_respond(served, request, decoded, result)
        respond = functools.partial(self._v2_respond, served, request, decoded)
        return Pending(result, functools.partial(_finish, served, request, PROTOCOL_V2, respond))

    def _v2_respond(
        self, served: ServedModel, request: Request, decoded: v2.InferRequest, outputs: dict[str, Any]
    ) -> Response:
        metrics = served.metrics
        try:
            model = served.model
            request_id = decoded.id if decoded.id is not None else request.request_id
            body, header_length = v2.encode_infer_response(
                model.name, model.version, request_id, outputs, decoded
            )
        except Exception as exc:
            return _failed(metrics, PROTOCOL_V2, request, exc)
        if header_length is None:
            response = Response(200, body)
        else:
            header = b"%d" % header_length
            response = Response(200, body, _OCTET_STREAM, [(b"inference-header-content-length", header)])
        return _succeeded(metrics, PROTOCOL_V2, request, response)

    # --- TF Serving -------------------------------------------------------------------------------

    def _v1(self, request: Request, rest: str) -> Response | Pending:
        verb = None
        if ":" in rest:
            rest, verb = rest.rsplit(":", 1)
        parts = rest.split("/")
        name, version, tail = parts[0], None, parts[1:]
        if len(tail) >= 2 and tail[0] == "versions":
            version, tail = tail[1], tail[2:]
        if verb is not None:
            if verb == "predict" and not tail:
                return self._v1_predict(request, name, version)
            raise NotFound(f"no route for {request.method} {request.path} (only :predict is served)")
        if tail in ([], ["metadata"]):
            _require(request, "GET")
            served = self.service.find(name, version)
            if not tail:
                return Response(200, v2.dumps(tfserving.model_status(served.model)))
            self.service.require_loaded(served)
            return Response(200, v2.dumps(tfserving.model_metadata(served.model)))
        raise NotFound(f"no route for {request.method} {request.path}")

    def _v1_predict(self, request: Request, name: str, version: str | None) -> Response | Pending:
        metrics = (self.service.lookup(name) or self.service.default).metrics
        metrics.started()
        try:
            _require(request, "POST")
            served = self.service.find(name, version)
            self.service.require_loaded(served)
            decoded = tfserving.decode_predict_request(self._body(request), served.model.inputs)
            result = served.scheduler.run_or_submit(decoded.inputs, None)
        except Exception as exc:
            return _failed(metrics, PROTOCOL_TFSERVING, request, exc)
        if isinstance(result, dict):
            return self._v1_respond(served, request, decoded.row_format, result)
        respond = functools.partial(self._v1_respond, served, request, decoded.row_format)
        return Pending(result, functools.partial(_finish, served, request, PROTOCOL_TFSERVING, respond))

    def _v1_respond(
        self, served: ServedModel, request: Request, row_format: bool, outputs: dict[str, Any]
    ) -> Response:
        try:
            body = tfserving.encode_predict_response(outputs, row_format)
        except Exception as exc:
            return _failed(served.metrics, PROTOCOL_TFSERVING, request, exc)
        return _succeeded(served.metrics, PROTOCOL_TFSERVING, request, Response(200, body))

    # --- bodies -----------------------------------------------------------------------------------

    def _body(self, request: Request) -> bytes:
        """The request body, decompressed per ``Content-Encoding`` (gzip, deflate), within the limit."""
        encoding = request.headers.get(b"content-encoding")
        if encoding is None or encoding.strip().lower() == b"identity":
            return request.body
        kind = encoding.strip().lower()
        if kind not in (b"gzip", b"deflate"):
            raise BadRequest(f"unsupported Content-Encoding {kind.decode('latin-1')!r}; use gzip or deflate")
        decompressor = zlib.decompressobj(wbits=31 if kind == b"gzip" else 15)
        try:
            body = decompressor.decompress(request.body, self.max_body_bytes + 1)
        except zlib.error as exc:
            raise BadRequest(f"body is not valid {kind.decode()} data: {exc}") from exc
        if len(body) > self.max_body_bytes or decompressor.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed request body over {self.max_body_bytes} bytes")
        return body


def _require(request: Request, method: str) -> None:
    if request.method != method:
        raise MethodNotAllowed(f"method {request.method} not allowed; use {method}")


def _error(exc: InferenceError) -> Response:
    headers = None
    if isinstance(exc, Overloaded):
        headers = [(b"retry-after", b"%d" % exc.retry_after_seconds)]
    return error_response(exc.status, str(exc), headers)


def _failed(metrics: ModelMetrics, protocol: str, request: Request, exc: BaseException) -> Response:
    if isinstance(exc, InferenceError):
        response = _error(exc)
    else:
        log.error(
            "inference failed: %s: %s",
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"request_id": request.request_id, "path": request.path},
        )
        response = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
    metrics.finished()
    metrics.observe(protocol, response.status, time.perf_counter() - request.start)
    return response


def _finish(
    served: ServedModel,
    request: Request,
    protocol: str,
    respond: Callable[[dict[str, Any]], Response],
    future: asyncio.Future[Any],
) -> Response:
    """Answer an inference that ran off the event loop: 499 when the client left, the error when it
    failed, else ``respond(outputs)``."""
    if future.cancelled():
        return _gone(served.metrics, protocol, request)
    try:
        outputs = future.result()
    except Exception as exc:
        return _failed(served.metrics, protocol, request, exc)
    return respond(outputs)


def _gone(metrics: ModelMetrics, protocol: str, request: Request) -> Response:
    metrics.finished()
    metrics.observe(protocol, 499, time.perf_counter() - request.start)
    return Response(499, b"")


def _succeeded(metrics: ModelMetrics, protocol: str, request: Request, response: Response) -> Response:
    accept = request.headers.get(b"accept-encoding")
    if accept is not None and len(response.body) >= _COMPRESS_MIN_BYTES:
        response = _compress(response, accept.lower())
    metrics.finished()
    metrics.observe(protocol, 200, time.perf_counter() - request.start)
    return response


def _compress(response: Response, accept: bytes) -> Response:
    for token, wbits in ((b"gzip", 31), (b"deflate", 15)):
        if token in accept:
            compressor = zlib.compressobj(1, zlib.DEFLATED, wbits)
            body = compressor.compress(response.body) + compressor.flush()
            headers = [*(response.headers or []), (b"content-encoding", token), (b"vary", b"accept-encoding")]
            return Response(response.status, body, response.content_type, headers)
    return response


__all__ = ["JSON", "RestRouter"]
