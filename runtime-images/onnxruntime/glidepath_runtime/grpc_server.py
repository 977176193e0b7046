"""The Open Inference Protocol gRPC server (``inference.GRPCInferenceService``) on ``grpc.aio``.

It shares the HTTP server's event loop, models, queues and metrics (``protocol="grpc"``; status codes
are counted as their HTTP equivalents, see :data:`~glidepath_runtime.metrics.GRPC_TO_HTTP`). Errors
abort the call: INVALID_ARGUMENT (400), NOT_FOUND (404), RESOURCE_EXHAUSTED (413), UNAVAILABLE (503,
not ready or the queue is full), INTERNAL (server bugs). The client's ``x-request-id`` metadata is
used as the response ``id`` when the request has none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import grpc
from grpc import aio

from glidepath_runtime.errors import InferenceError
from glidepath_runtime.metrics import GRPC_TO_HTTP, PROTOCOL_GRPC
from glidepath_runtime.protocols import grpc_v2
from glidepath_runtime.service import InferenceService

log = logging.getLogger(__name__)

_STATUS: Final = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


class GrpcServer:
    """Serves :class:`~glidepath_runtime.service.InferenceService` over gRPC.

    Args:
        service: the models.
        max_message_bytes: the largest request message accepted (and response sent).
    """

    def __init__(self, service: InferenceService, max_message_bytes: int = 64 * 1024 * 1024) -> None:
        self.service = service
        self.messages = grpc_v2.message_classes()
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self.server = aio.server(options=options)
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for method, (request, response) in grpc_v2.METHODS.items():
            handlers[method] = grpc.unary_unary_rpc_method_handler(
                getattr(self, method),
                request_deserializer=self.messages[request].FromString,
                response_serializer=self.messages[response].SerializeToString,
            )
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(grpc_v2.SERVICE, handlers),)
        )
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0: any free port, then see :attr:`port`).

        Raises:
            OSError: the port could not be bound.
        """
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as exc:  # grpc raises RuntimeError("Failed to bind ...")
            raise OSError(f"gRPC could not listen on {address}: {exc}") from exc
        await self.server.start()

    async def stop(self, grace: float) -> None:
        """Refuse new calls and wait up to ``grace`` seconds for running ones."""
        await self.server.stop(grace)

    # --- RPCs -------------------------------------------------------------------------------------

    async def ServerLive(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        return self.messages["ServerLiveResponse"](live=True)

    async def ServerReady(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        return self.messages["ServerReadyResponse"](ready=self.service.ready())

    async def ModelReady(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        served = await _call(context, lambda: self.service.find(request.name, request.version))
        return self.messages["ModelReadyResponse"](ready=self.service.is_ready(served))

    async def ServerMetadata(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        return grpc_v2.server_metadata()

    async def ModelMetadata(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        def metadata() -> Any:
            served = self.service.find(request.name, request.version)
            self.service.require_loaded(served)
            return grpc_v2.model_metadata(served.model)

        return await _call(context, metadata)

    async def ModelInfer(self, request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        start = time.perf_counter()
        metrics = (self.service.lookup(request.model_name) or self.service.default).metrics
        metrics.started()
        code = 200
        try:
            served = self.service.find(request.model_name, request.model_version)
            self.service.require_loaded(served)
            decoded = grpc_v2.decode_infer_request(request, served.model.inputs)
            result = served.scheduler.run_or_submit(decoded.inputs, decoded.output_names)
            outputs = result if isinstance(result, dict) else await result
            request_id = decoded.id or _metadata(context, "x-request-id")
            model = served.model
            return grpc_v2.encode_infer_response(model.name, model.version, request_id, outputs, decoded.raw)
        except InferenceError as exc:
            code = exc.status
            await context.abort(_STATUS.get(exc.status, grpc.StatusCode.INTERNAL), str(exc))
        except asyncio.CancelledError:  # the client cancelled while the request waited for the model
            code = GRPC_TO_HTTP["CANCELLED"]
            raise
        except Exception as exc:
            log.exception("gRPC inference failed", extra={"request_id": _metadata(context, "x-request-id")})
            code = GRPC_TO_HTTP["INTERNAL"]
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            metrics.finished()
            metrics.observe(PROTOCOL_GRPC, code, time.perf_counter() - start)


async def _call(context: aio.ServicerContext[Any, Any], function: Callable[[], Any]) -> Any:
    """``function()``, with InferenceError turned into the call's status."""
    try:
        return function()
    except InferenceError as exc:
        await context.abort(_STATUS.get(exc.status, grpc.StatusCode.INTERNAL), str(exc))


def _metadata(context: aio.ServicerContext[Any, Any], key: str) -> str:
    for item in context.invocation_metadata() or ():
        if item[0] == key:
            value = item[1]
            return value if isinstance(value, str) else value.decode("latin-1")
    return ""
