"""The ``glidepath-runtime`` command.

Subcommands::

    glidepath-runtime serve --model-name NAME --model-dir DIR [--model-version V] [--http-port 8080]
                            [--log-level info] [--access-log]
    glidepath-runtime fetch URI DEST [--sha256 HEX] [--timeout 60]

Environment:
    GLIDEPATH_HTTP_HOST        serve's listen address (default ``0.0.0.0``).
    GLIDEPATH_TERMINATION_LOG  file that receives a one-line outcome (Kubernetes' termination message);
                               default ``/dev/termination-log`` when it exists and is writable.

Exit codes:
    0  success (serve: a normal shutdown after SIGTERM/SIGINT)
    1  unexpected internal error
    2  usage error: bad arguments, unsupported URI scheme, URI without a file name, malformed --sha256
    3  fetch: the source could not be read completely, or the destination could not be written
    4  fetch: sha256 mismatch (message names expected and actual digests; no file is left behind)
    5  serve: model not loadable: the model directory does not hold exactly one ``*.onnx`` file, or the
       file is not a model ONNX Runtime can load

Heavy imports (numpy, onnxruntime, uvicorn) happen only in ``serve``, so ``fetch`` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from glidepath_runtime import __version__

EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_USAGE: Final = 2
EXIT_FETCH_FAILED: Final = 3
EXIT_CHECKSUM_MISMATCH: Final = 4
EXIT_MODEL_ERROR: Final = 5

ENV_HTTP_HOST: Final = "GLIDEPATH_HTTP_HOST"
ENV_TERMINATION_LOG: Final = "GLIDEPATH_TERMINATION_LOG"
DEFAULT_HTTP_HOST: Final = "0.0.0.0"  # a pod listens on its IP
DEFAULT_HTTP_PORT: Final = 8080
KUBERNETES_TERMINATION_LOG: Final = "/dev/termination-log"
#: Kubernetes keeps at most 4096 bytes of a termination message.
_TERMINATION_MESSAGE_MAX: Final = 4096


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``glidepath-runtime``."""
    parser = argparse.ArgumentParser(
        prog="glidepath-runtime",
        description="Glidepath's ONNX Runtime model server (Open Inference Protocol REST) and model fetcher.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve one ONNX model over the Open Inference Protocol REST API",
        description=f"Serve the single *.onnx file in --model-dir. Listens on ${ENV_HTTP_HOST} "
        f"(default {DEFAULT_HTTP_HOST}) at --http-port; Prometheus metrics on /metrics.",
    )
    serve.add_argument("--model-name", required=True, help="model name in URLs (/v2/models/NAME)")
    serve.add_argument("--model-dir", required=True, type=Path, help="directory holding exactly one *.onnx")
    serve.add_argument("--model-version", default=None, help="model version (/v2/models/NAME/versions/V)")
    serve.add_argument(
        "--http-port", type=int, default=DEFAULT_HTTP_PORT, help="TCP port (default %(default)s)"
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="default %(default)s",
    )
    serve.add_argument("--access-log", action="store_true", help="log one line per HTTP request")

    fetch = commands.add_parser(
        "fetch",
        help="download a model file into a directory and verify its sha256",
        description="Download URI (http, https or file) to DEST/<basename of URI>, atomically. "
        f"Writes a one-line outcome to ${ENV_TERMINATION_LOG} (default {KUBERNETES_TERMINATION_LOG} "
        "if writable). Exit codes: 0 ok, 2 usage/unsupported scheme, 3 download failed, 4 sha256 mismatch.",
    )
    fetch.add_argument("uri", metavar="URI", help="http://, https:// or file:// URI of the model file")
    fetch.add_argument("dest", metavar="DEST", type=Path, help="target directory (created if missing)")
    fetch.add_argument("--sha256", default=None, metavar="HEX", help="expected SHA-256 of the file")
    fetch.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per connect/read (default %(default)s)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``glidepath-runtime`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        return _fetch(args)
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    from glidepath_runtime.model import Model, ModelDirError, find_model_file

    if not args.model_name or "/" in args.model_name:
        return _fail(
            "serve", f"--model-name must be non-empty and without '/', got {args.model_name!r}", EXIT_USAGE
        )
    try:
        path = find_model_file(args.model_dir)
    except ModelDirError as exc:
        return _fail("serve", str(exc), EXIT_MODEL_ERROR)

    from glidepath_runtime.server import serve

    model = Model(args.model_name, path, args.model_version)
    host = os.environ.get(ENV_HTTP_HOST) or DEFAULT_HTTP_HOST
    if serve(model, host=host, port=args.http_port, access_log=args.access_log, log_level=args.log_level):
        return EXIT_OK
    return _fail(
        "serve", f"model {args.model_name!r} failed to load from {path}: {model.load_error}", EXIT_MODEL_ERROR
    )


def _fetch(args: argparse.Namespace) -> int:
    from glidepath_runtime.fetch import FetchError, fetch

    try:
        result = fetch(args.uri, args.dest, sha256=args.sha256, timeout=args.timeout)
    except FetchError as exc:
        return _fail("fetch", str(exc), exc.exit_code)
    if result.verified:
        message = f"verified sha256 {result.sha256} for {args.uri}"
    else:
        message = f"fetched {args.uri} (sha256 {result.sha256}, not verified: no --sha256 given)"
    message += f" -> {result.path} ({result.size} bytes)"
    print(message, flush=True)
    write_termination_message(message)
    return EXIT_OK


def _fail(command: str, message: str, code: int) -> int:
    print(f"glidepath-runtime {command}: error: {message}", file=sys.stderr, flush=True)
    write_termination_message(f"error: {message}")
    return code


def termination_log_path() -> Path | None:
    """Where to write the termination message: ``$GLIDEPATH_TERMINATION_LOG`` if set (empty disables),
    else ``/dev/termination-log`` if it exists and is writable, else nowhere."""
    configured = os.environ.get(ENV_TERMINATION_LOG)
    if configured is not None:
        return Path(configured) if configured else None
    default = Path(KUBERNETES_TERMINATION_LOG)
    if default.exists() and os.access(default, os.W_OK):
        return default
    return None


def write_termination_message(line: str) -> None:
    """Write ``line`` (cut to Kubernetes' 4096-byte limit) as the termination message; errors are
    ignored, as the message is a courtesy and must never change the outcome."""
    path = termination_log_path()
    if path is None:
        return
    data = (line.rstrip("\n") + "\n").encode("utf-8", "replace")[:_TERMINATION_MESSAGE_MAX]
    with contextlib.suppress(OSError):
        path.write_bytes(data)


if __name__ == "__main__":
    sys.exit(main())
