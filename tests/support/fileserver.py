"""A static HTTP file server on 127.0.0.1 for tests and the demo (a stand-in for a model store)."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_directory(root: Path, port: int = 0) -> Iterator[str]:
    """Serve the files under ``root`` on 127.0.0.1:``port`` (0: any free port) from a background
    thread; yields the base URL ``http://127.0.0.1:<port>``. Stops the server on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
