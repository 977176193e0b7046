"""Real storage servers on 127.0.0.1 for the fetcher's tests, and a fault-injecting HTTP proxy.

- :func:`start_moto`: ``moto_server`` (S3 and IAM) as a subprocess.
- :func:`start_fake_gcs`: ``fake-gcs-server`` (built from its Go module by ``hack/build-fake-gcs.sh``).
- :class:`FaultProxy`: forwards to any of them (or a static file server) and, on cue, answers 5xx/403,
  stalls past the client's timeout, resets the connection, or cuts a body short; records every request.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.runtime.harness import HOST, free_port, runtime_env
from tests.support.operator import stop_process

REPO = Path(__file__).resolve().parents[2]


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None, log: Path, timeout: float = 30.0
) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``.

    Raises:
        RuntimeError: the process exited or ``timeout`` passed (its log is in the message).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not come up:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def start_moto(log: Path) -> Iterator[str]:
    """``moto_server`` on a free port of 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    argv = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
    with log.open("wb") as out:
        process = subprocess.Popen([*argv, "-H", HOST, "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        yield f"http://{HOST}:{port}"
    finally:
        stop_process(process)


def fake_gcs_binary() -> Path:
    """Path of the cached fake-gcs-server binary, built by hack/build-fake-gcs.sh on first use."""
    done = subprocess.run(
        ["bash", str(REPO / "hack" / "build-fake-gcs.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"hack/build-fake-gcs.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def start_fake_gcs(data: Path, log: Path) -> Iterator[str]:
    """fake-gcs-server on a free port of 127.0.0.1 (in-memory, plain HTTP), preloaded from ``data``
    (``data/<bucket>/<object path>``); yields its endpoint URL (for STORAGE_EMULATOR_HOST)."""
    binary = fake_gcs_binary()
    port = free_port()
    argv = [str(binary), "-scheme", "http", "-host", HOST, "-port", str(port), "-backend", "memory"]
    argv += ["-data", str(data), "-log-level", "warn", "-external-url", f"http://{HOST}:{port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        yield f"http://{HOST}:{port}"
    finally:
        stop_process(process)


@dataclass(frozen=True)
class Seen:
    """One request the proxy received (header names lowercased)."""

    at: float
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Fault:
    """What the proxy does to the next request whose path contains ``match`` (and whose method is
    ``method``, when set).

    ``action``: ``status`` (answer ``status`` with a short body, and a ``Location: location`` header when
    set, for redirects), ``stall`` (wait ``seconds`` then
    forward), ``reset`` (close the connection with a TCP RST), ``truncate`` (forward, but send only half
    the body under the full Content-Length, then close).
    """

    action: str
    match: str = ""
    status: int = 503
    seconds: float = 0.0
    times: int = 1
    location: str = ""
    method: str = ""


@dataclass
class _State:
    upstream: tuple[str, int]
    faults: deque[Fault] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rstrip("/").split(":")
        self._state = _State((host, int(port)))
        self._server = ThreadingHTTPServer((HOST, 0), functools.partial(_ProxyHandler, self._state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://{HOST}:{self._server.server_address[1]}"

    def add(self, *faults: Fault) -> None:
        """Queue ``faults`` (each applies ``times`` times, in order)."""
        with self._state.lock:
            self._state.faults.extend(faults)

    def reset(self) -> None:
        """Forget queued faults and seen requests."""
        with self._state.lock:
            self._state.faults.clear()
            self._state.seen.clear()

    def seen(self, match: str = "") -> list[Seen]:
        """The requests received so far whose path contains ``match``."""
        with self._state.lock:
            return [s for s in self._state.seen if match in s.path]

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, state: _State, *args: Any, **kwargs: Any) -> None:
        self.state = state
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _next_fault(self) -> Fault | None:
        with self.state.lock:
            self.state.seen.append(
                Seen(
                    time.monotonic(), self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                )
            )
            for fault in self.state.faults:
                if fault.match in self.path and fault.method in ("", self.command):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.state.faults.remove(fault)
                    return fault
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = self._next_fault()
        if fault is not None and fault.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and fault.action == "status":
            payload = f"injected HTTP {fault.status}\n".encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            if fault.location:
                self.send_header("Location", fault.location)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        if fault is not None and fault.action == "stall":
            time.sleep(fault.seconds)
        conn = http.client.HTTPConnection(*self.state.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "date",
                    "server",
                ):
                    self.send_header(name, value)
            upstream_length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", upstream_length or str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if fault is not None and fault.action == "truncate":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a fetcher subprocess (:func:`tests.runtime.harness.runtime_env`) without this
    machine's storage settings (a developer's AWS or GCP credentials, proxies; CA bundles stay), plus
    ``extra``."""
    env = {
        name: value
        for name, value in runtime_env().items()
        if "CA_" in name
        or not (
            name.startswith(
                ("AWS_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "GLIDEPATH_HTTP_HEADERS", "GLIDEPATH_PVC")
            )
            or name.lower() in ("storage_emulator_host", "http_proxy", "https_proxy", "all_proxy")
        )
    }
    env.update({"AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "*", "no_proxy": "*"})
    env.update(extra)
    return env
