"""Run the servers: HTTP (:mod:`.http` + :mod:`.rest`) and gRPC (:mod:`.grpc_server`) on one event loop
(uvloop when installed), the models loading in the background, and a graceful shutdown.

Lifecycle:

1. Listen at once (liveness answers), then load the models in threads (readiness 503 until all are
   loaded). A model that fails to load stops the server (``serve`` returns False).
2. On SIGTERM: readiness turns false at once; for ``shutdown_delay`` seconds everything else goes on
   (Kubernetes takes a moment to take the pod out of its Service's endpoints, and requests sent
   meanwhile must still be answered); then the listeners close, idle connections close, and in-flight
   requests finish, each answered with ``Connection: close``, for at most ``drain_timeout`` seconds.
   Then the process exits 0. SIGINT does the same without the delay; a second signal cuts it short.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from glidepath_runtime.config import ServerSettings
from glidepath_runtime.http import HttpServer
from glidepath_runtime.metrics import RuntimeMetrics
from glidepath_runtime.model import Model
from glidepath_runtime.rest import RestRouter
from glidepath_runtime.scheduler import Scheduler
from glidepath_runtime.service import InferenceService, ServedModel

log = logging.getLogger(__name__)


def serve(models: list[Model], settings: ServerSettings) -> bool:
    """Serve ``models`` until SIGTERM/SIGINT (graceful shutdown) or a failed model load.

    Returns:
        True after a normal shutdown, False when a model failed to load (the reason is logged and in
        that model's ``load_error``).

    Raises:
        OSError: a port could not be bound.
    """
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(Server(models, settings).run())


@dataclass
class Server:
    """One server process's parts and lifecycle (see the module documentation)."""

    models: list[Model]
    settings: ServerSettings
    metrics: RuntimeMetrics = field(default_factory=RuntimeMetrics)
    load_failed: bool = False
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _signalled: asyncio.Event = field(default_factory=asyncio.Event)
    _signals: int = 0
    _delay: bool = True

    def build(self) -> InferenceService:
        """The service with one scheduler per model."""
        served = []
        for model in self.models:
            model_metrics = self.metrics.for_model(model.name, model.version)
            scheduler = Scheduler(
                model,
                model_metrics,
                batching=self.settings.batching,
                max_queue_size=self.settings.max_queue_size,
                inline_run_seconds=self.settings.inline_run_seconds,
            )
            served.append(ServedModel(model, scheduler, model_metrics))
        return InferenceService(served, self.metrics)

    async def run(self) -> bool:
        """Listen, load, serve until stopped, drain; True unless a model failed to load."""
        settings = self.settings
        service = self.build()
        http = HttpServer(
            RestRouter(service, settings.max_body_bytes),
            max_body_bytes=settings.max_body_bytes,
            keepalive_timeout=settings.keepalive_timeout,
            access_log=settings.access_log,
        )
        await http.start(settings.host, settings.http_port)
        grpc_server = None
        if settings.grpc_port:
            from glidepath_runtime.grpc_server import GrpcServer

            grpc_server = GrpcServer(service, settings.max_body_bytes)
            try:
                await grpc_server.start(settings.host, settings.grpc_port)
            except OSError as exc:
                if settings.grpc_required:
                    http.close()
                    raise
                log.error(
                    "serving HTTP only: %s (pass --grpc-port to make this fatal, 0 to turn gRPC off)", exc
                )
                await grpc_server.stop(0)
                grpc_server = None
        log.info(
            "listening on %s: HTTP port %d, gRPC port %s",
            settings.host,
            http.port,
            grpc_server.port if grpc_server else "off",
            extra={"http_port": http.port, "grpc_port": grpc_server.port if grpc_server else None},
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_signal, "SIGINT")
        load = asyncio.ensure_future(self._load_all())
        await self._stop.wait()
        load.cancel()

        service.shutting_down = True
        if self._delay and not self.load_failed and settings.shutdown_delay > 0:
            log.info("shutting down: not ready; serving for %g s more", settings.shutdown_delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._next_signal(), settings.shutdown_delay)
        http.stop_accepting()
        grpc_stopped = None
        if grpc_server is not None:
            grpc_stopped = asyncio.ensure_future(grpc_server.stop(settings.drain_timeout))
        await self._drain(http, service, settings.drain_timeout)
        http.close()
        if grpc_stopped is not None:
            if self._signals > 1:
                await grpc_server.stop(0)  # type: ignore[union-attr]
            await grpc_stopped
        for served in service.models.values():
            served.scheduler.close()
        log.info("stopped")
        return not self.load_failed

    async def _load_all(self) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        results = await asyncio.gather(
            *(loop.run_in_executor(None, model.load) for model in self.models), return_exceptions=True
        )
        for model, result in zip(self.models, results, strict=True):
            if isinstance(result, BaseException):
                log.error("model %r failed to load from %s: %s", model.name, model.path, model.load_error)
                self.load_failed = True
        if self.load_failed:
            self._stop.set()
            return
        _release_free_memory()
        log.info("ready: %d model(s) loaded in %.2f s", len(self.models), time.perf_counter() - started)

    def _on_signal(self, name: str) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("%s received: readiness is now false", name)
            self._delay = name == "SIGTERM"
        else:
            log.info("%s received again: stopping now", name)
        self._stop.set()
        self._signalled.set()

    async def _next_signal(self) -> None:
        """Return at the next signal after the first."""
        self._signalled.clear()
        await self._signalled.wait()

    async def _drain(self, http: HttpServer, service: InferenceService, timeout: float) -> None:
        """Wait until no HTTP request is in flight and every queue is idle, up to ``timeout`` s."""
        deadline = time.perf_counter() + timeout
        signals = self._signals
        while time.perf_counter() < deadline and self._signals == signals:
            busy = http.busy or not all(s.scheduler.idle for s in service.models.values())
            if not busy:
                return
            await asyncio.sleep(0.01)
        log.warning("drain ended with requests still in flight")


def _release_free_memory() -> None:
    """Give freed heap pages back to the OS after loading (glibc keeps them by default): loading a
    model parses the whole file, and the parsed copy is garbage once the session has its weights."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)
