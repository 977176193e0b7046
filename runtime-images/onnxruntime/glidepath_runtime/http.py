"""A small, fast HTTP/1.1 server: an ``asyncio.Protocol`` on the ``httptools`` parser (llhttp, as in
Node.js and uvicorn) and, when installed, the ``uvloop`` event loop.

Why not ASGI on uvicorn: per request, ASGI builds a scope and message dicts, starts a task and awaits
``receive``/``send``; for a small tabular model that costs more than the inference. Measured on one
core, this protocol spends about a quarter of the CPU per request of the same handler behind uvicorn's
ASGI stack. What it implements:

- keep-alive and pipelining (answers go out in request order; reading pauses while more than
  :data:`_PIPELINE_LIMIT` requests wait), ``Connection: close``, HTTP/1.0;
- request bodies by ``Content-Length`` or chunked, limited to ``max_body_bytes`` (413 as soon as the
  headers announce more, or the chunks exceed it), ``Expect: 100-continue``;
- limits: header bytes (431), time to receive a whole request (408), idle keep-alive time;
- write back-pressure: reading pauses while the transport's write buffer is full;
- graceful shutdown: :meth:`HttpServer.stop_accepting` closes the listener and idle connections, and
  every later response carries ``Connection: close``; :attr:`HttpServer.busy` tells when all in-flight
  requests have been answered.

A handler gets a :class:`Request` with the whole body and returns a :class:`Response`, or a
:class:`Pending` whose future resolves later (inference) and whose ``finish`` turns it into a response.
Upgrades (WebSocket, h2c) are not supported: the request is answered and the connection closed.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final, cast
from urllib.parse import unquote

import httptools
import orjson

log = logging.getLogger(__name__)
access_log = logging.getLogger("glidepath_runtime.access")

JSON: Final = b"application/json"
_PIPELINE_LIMIT: Final = 16
_LARGE_BODY: Final = 256 * 1024
_REASONS: Final = {s.value: s.phrase.encode() for s in HTTPStatus}


@dataclass(slots=True)
class Request:
    """A complete HTTP request.

    Attributes:
        method: ``GET``, ``POST`` …
        path: the percent-decoded path, without the query string.
        headers: lower-cased header names -> values (repeated headers joined with ``,``).
        body: the whole body.
        start: ``time.perf_counter()`` at its first byte.
        keep_alive: whether the client wants the connection kept open afterwards.
    """

    method: str
    path: str
    headers: dict[bytes, bytes]
    body: bytes
    start: float
    keep_alive: bool = True

    def header(self, name: bytes) -> str | None:
        """The value of header ``name`` (lower-case bytes), or None."""
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def request_id(self) -> str | None:
        """The client's ``x-request-id`` header."""
        return self.header(b"x-request-id")


@dataclass(slots=True)
class Response:
    """An HTTP response; ``headers`` are extra ones beyond content-type/length, date and connection."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] | None = None


@dataclass(slots=True)
class Pending:
    """A response still being computed: ``finish(future)`` runs when ``future`` is done (also when it
    was cancelled because the client went away) and returns the response."""

    future: asyncio.Future[Any]
    finish: Callable[[asyncio.Future[Any]], Response]


Handler = Callable[[Request], Response | Pending]


def error_response(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    """``{"error": message}`` with ``status``."""
    return Response(status, orjson.dumps({"error": message}), JSON, headers)


@dataclass
class HttpServer:
    """Serves ``handler`` on one TCP listener.

    Args:
        handler: called on the event loop for each complete request.
        max_body_bytes: larger request bodies get 413 and the connection is closed.
        keepalive_timeout: seconds an idle keep-alive connection stays open.
        read_timeout: seconds a client may take to send one whole request (408 after).
        max_header_bytes: larger request lines plus headers get 431.
        access_log: log one JSON line per request (logger ``glidepath_runtime.access``).
    """

    handler: Handler
    max_body_bytes: int = 64 * 1024 * 1024
    keepalive_timeout: float = 75.0
    read_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024
    access_log: bool = False
    connections: set[HttpConnection] = field(default_factory=set)
    closing: bool = False
    date: bytes = b""
    _server: asyncio.Server | None = None
    _sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0: any free port, see :attr:`port`)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), host, port, backlog=2048, reuse_address=True
        )
        self._sweep()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def busy(self) -> bool:
        """Whether any connection is receiving a request or has one unanswered."""
        return any(conn.busy for conn in self.connections)

    def stop_accepting(self) -> None:
        """Close the listener and idle connections; later responses close their connections."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close_if_idle()

    def close(self) -> None:
        """Close every connection at once and stop the timers."""
        self.stop_accepting()
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()

    def _sweep(self) -> None:
        """Once a second: refresh the Date header, enforce the idle and read timeouts."""
        loop = asyncio.get_running_loop()
        self.date = email.utils.formatdate(usegmt=True).encode()
        now = time.perf_counter()
        for conn in list(self.connections):
            conn.check_timeouts(now)
        self._sweeper = loop.call_later(1.0, self._sweep)


class HttpConnection(asyncio.Protocol):
    """One client connection (see the module documentation)."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.last_active = time.perf_counter()
        # the request being received
        self._reading = False
        self._start = 0.0
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._chunks: list[bytes] = []
        self._body_size = 0
        self._discard = False
        # requests received and not yet answered: the first is being handled
        self._queue: deque[Request | Response] = deque()
        self._pending: Pending | None = None
        self._handling = False
        self._paused_for_pipeline = False
        self._paused_for_writes = False

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.server.connections.add(self)
        if self.server.closing:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self._pending is not None:
            self._pending.future.cancel()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._discard = True  # the request was answered or queued; nothing after it is read
            self._pause(pipeline=True)
        except httptools.HttpParserError as exc:
            if not self._discard:
                self._reject(400, f"malformed HTTP request: {exc}")

    def pause_writing(self) -> None:
        self._paused_for_writes = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._paused_for_writes = False
        self._update_reading()

    # --- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reading = True
        self._start = time.perf_counter()
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._chunks = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._discard:
            return
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.server.max_header_bytes:
            self._reject(431, f"request line and headers over {self.server.max_header_bytes} bytes")
            return
        key = name.lower()
        previous = self._headers.get(key)
        self._headers[key] = value if previous is None else previous + b"," + value

    def on_headers_complete(self) -> None:
        if self._discard:
            return
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.server.max_body_bytes:
            self._reject(413, f"request body over {self.server.max_body_bytes} bytes")
            return
        expect = self._headers.get(b"expect")
        if expect is not None and expect.lower() == b"100-continue" and not self._queue:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._discard:
            return
        self._body_size += len(body)
        if self._body_size > self.server.max_body_bytes:
            self._reject(413, f"request body over {self.server.max_body_bytes} bytes")
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self._reading = False
        if self._discard:
            return
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        path = self._url.split(b"?", 1)[0]
        request = Request(
            self.parser.get_method().decode("ascii", "replace"),
            unquote(path.decode("latin-1")) if b"%" in path else path.decode("latin-1"),
            self._headers,
            body,
            self._start,
            self.parser.should_keep_alive(),
        )
        self._queue.append(request)
        if not self._handling:
            self._next()
        elif len(self._queue) > _PIPELINE_LIMIT:
            self._pause(pipeline=True)

    # --- handling ---------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Receiving a request, or holding one unanswered."""
        return self._reading or bool(self._queue)

    def _next(self) -> None:
        """Handle queued requests in order until one is pending or the queue is empty."""
        self._handling = True
        while self._queue and not self.closed:
            item = self._queue[0]
            if isinstance(item, Response):  # a rejection queued behind earlier requests
                self._write(None, item, close=True)
                return
            try:
                result = self.server.handler(item)
            except Exception as exc:
                log.exception("request handler failed")
                result = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
            if isinstance(result, Pending):
                if not result.future.done():
                    self._pending = result
                    result.future.add_done_callback(self._on_done)
                    return
                result = self._finish(result)
            self._queue.popleft()
            self._write(item, result)
        self._handling = False
        if self._paused_for_pipeline:
            self._paused_for_pipeline = False
            self._update_reading()

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        pending, self._pending = self._pending, None
        assert pending is not None
        response = self._finish(pending)
        if self.closed or not self._queue:
            return
        request = self._queue.popleft()
        assert isinstance(request, Request)
        self._write(request, response)
        self._next()

    @staticmethod
    def _finish(pending: Pending) -> Response:
        try:
            return pending.finish(pending.future)
        except Exception as exc:
            log.exception("response encoding failed")
            return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    def _write(self, request: Request | None, response: Response, close: bool = False) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        keep_alive = not close and request is not None and request.keep_alive and not self.server.closing
        body = response.body
        head = [
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\ndate: %s\r\n"
            % (
                response.status,
                _REASONS.get(response.status, b""),
                response.content_type,
                len(body),
                self.server.date,
            )
        ]
        if response.headers:
            head.extend(b"%s: %s\r\n" % header for header in response.headers)
        if request is not None:
            request_id = request.headers.get(b"x-request-id")
            if request_id is not None:
                head.append(b"x-request-id: %s\r\n" % request_id)
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        if len(body) < _LARGE_BODY:
            head.append(body)
            transport.write(b"".join(head))
        else:
            transport.writelines([b"".join(head), body])
        self.last_active = time.perf_counter()
        if self.server.access_log and request is not None:
            _log_access(request, response, self.last_active)
        if not keep_alive:
            self.closed = True
            self.server.connections.discard(self)
            transport.close()

    def _reject(self, status: int, message: str) -> None:
        """Answer ``status`` (after any earlier requests), read nothing more, close."""
        self._discard = True
        self._reading = False
        self._chunks = []
        self._pause(pipeline=True)
        response = error_response(status, message)
        if self._queue:
            self._queue.append(response)
        else:
            self._write(None, response, close=True)

    # --- flow control, timeouts, shutdown ---------------------------------------------------------

    def _pause(self, pipeline: bool) -> None:
        self._paused_for_pipeline = self._paused_for_pipeline or pipeline
        self._update_reading()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        if self._paused_for_pipeline or self._paused_for_writes or self._discard:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def check_timeouts(self, now: float) -> None:
        """Close an idle connection past the keep-alive timeout; 408 a request too slow to arrive."""
        if self.closed:
            return
        if self._reading and not self._queue and now - self._start > self.server.read_timeout:
            self._reject(408, f"request not received within {self.server.read_timeout:g} s")
        elif not self.busy and now - self.last_active > self.server.keepalive_timeout:
            self.abort()

    def close_if_idle(self) -> None:
        """Close now if no request is being received or handled (shutdown)."""
        if not self.busy:
            self.abort()

    def abort(self) -> None:
        """Close the connection."""
        self.closed = True
        self.server.connections.discard(self)
        if self.transport is not None:
            self.transport.close()


def _log_access(request: Request, response: Response, now: float) -> None:
    access_log.info(
        "%s %s %d",
        request.method,
        request.path,
        response.status,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round((now - request.start) * 1000, 3),
            "request_bytes": len(request.body),
            "response_bytes": len(response.body),
            "request_id": request.request_id,
        },
    )
