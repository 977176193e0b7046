"""Helpers to run ``glidepath-runtime`` as a real process on 127.0.0.1 and talk HTTP to it.

Reusable beyond these tests (e2e can start runtimes with :func:`start_runtime`). Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.operator import stop_process

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Response:
    """An HTTP response: status, lower-cased headers, raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | Any = None,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One HTTP request to 127.0.0.1:``port``; a dict/list ``body`` is sent as JSON."""
    if body is not None and not isinstance(body, bytes | str):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        all_headers = {"Content-Type": "application/json"} if body is not None else {}
        all_headers.update(headers or {})
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


@dataclass
class RuntimeProcess:
    """A running ``python -m glidepath_runtime.cli serve`` subprocess (HTTP ``port``, gRPC ``grpc_port``)."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    grpc_port: int = 0

    @property
    def url(self) -> str:
        """``127.0.0.1:<port>``, as HTTP clients take it."""
        return f"{HOST}:{self.port}"

    def get(self, path: str) -> Response:
        """GET ``path``."""
        return http_request(self.port, "GET", path)

    def post(self, path: str, body: bytes | str | Any, headers: Mapping[str, str] | None = None) -> Response:
        """POST ``body`` (JSON-encoded unless bytes/str) to ``path``."""
        return http_request(self.port, "POST", path, body, headers=headers)

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")


def runtime_env(**extra: str) -> dict[str, str]:
    """The environment for a runtime subprocess: listen on 127.0.0.1, no termination log by default."""
    env = dict(os.environ)
    env.update({"GLIDEPATH_HTTP_HOST": HOST, "GLIDEPATH_TERMINATION_LOG": "", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@contextlib.contextmanager
def start_runtime(
    model_dir: Path,
    model_name: str,
    model_version: str | None,
    log_path: Path,
    *,
    ready_timeout: float = 30.0,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[RuntimeProcess]:
    """Start a runtime server on free ports (HTTP and gRPC), wait until ``/v2/health/ready`` is 200,
    stop it after (SIGTERM; tests pass ``--shutdown-delay 0`` unless ``extra_args`` say otherwise).

    Raises:
        RuntimeError: the process exited or did not become ready in ``ready_timeout`` seconds (its log
            is in the message).
    """
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port, grpc_port = free_port(), free_port()
        argv = [
            sys.executable,
            "-m",
            "glidepath_runtime.cli",
            "serve",
            "--model-name",
            model_name,
            "--model-dir",
            str(model_dir),
            "--http-port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--shutdown-delay",
            "0",
            *extra_args,
        ]
        if model_version is not None:
            argv += ["--model-version", model_version]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=runtime_env(**(env or {}))
            )
        server = RuntimeProcess(process, port, log_path, grpc_port)
        try:
            if _wait_ready(server, ready_timeout):
                break
        except BaseException:
            stop_process(process)
            raise
        stop_process(process)
        if "address already in use" not in server.log().lower():
            raise RuntimeError(f"runtime did not become ready (exit {process.returncode}):\n{server.log()}")
    else:
        raise RuntimeError(f"runtime could not bind a port:\n{server.log()}")
    try:
        yield server
    finally:
        stop_process(process)


def _wait_ready(server: RuntimeProcess, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if server.get("/v2/health/ready").status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m glidepath_runtime.cli ARGS`` to completion (extra ``env`` on top of
    :func:`runtime_env`), capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "glidepath_runtime.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=runtime_env(**(env or {})),
        check=False,
    )
