"""Structured logs: one JSON object per line on stderr.

Every line has ``time`` (RFC 3339, UTC), ``level``, ``logger`` and ``message``; ``extra=`` fields of the
log call are added as they are (``request_id``, ``model``, ``status``, ``duration_ms`` …), and an
exception as ``exception``. The request id is the client's ``x-request-id`` header (HTTP) or metadata
(gRPC) when given; the server echoes it back and names it in the lines about that request.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Final

import orjson

#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module documentation)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure(level: str = "info", json: bool = True) -> None:
    """Send the root logger to stderr at ``level``, as JSON lines or (``json=False``) plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
