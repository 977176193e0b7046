"""The ``glidepath-runtime`` command.

Subcommands::

    glidepath-runtime serve --model-name NAME --model-dir DIR [--model-version V] [--http-port 8080]
                            [--grpc-port 9000] [--max-batch-size N] … (see serve_command.py)
    glidepath-runtime fetch URI DEST [--sha256 HEX] [--format onnx|tensorflow] [--version V]
                            [--timeout 60] [--attempts 5] [--backoff 1] [--deadline 600]

Environment:
    GLIDEPATH_HTTP_HOST        serve's listen address (default ``0.0.0.0``).
    GLIDEPATH_TERMINATION_LOG  file that receives a one-line outcome (Kubernetes' termination message);
                               default ``/dev/termination-log`` when it exists and is writable.

Exit codes:
    0  success (serve: a normal shutdown after SIGTERM/SIGINT)
    1  unexpected internal error
    2  usage error: bad arguments, unsupported URI scheme, URI without a file name, malformed --sha256
       (fetch: termination message ``InvalidArgument: ...``)
    3  fetch: the source could not be read completely (after retries), or the destination could not be
       written (``FetchFailed: ...``)
    4  fetch: sha256 mismatch (``ChecksumMismatch: ...`` names expected and actual digests; nothing is
       left behind)
    5  serve: model not loadable: the model directory does not hold exactly one ``*.onnx`` file, or the
       file is not a model ONNX Runtime can load
    6  fetch: the content is not a usable model: unsafe or corrupt archive, no single SavedModel
       (``InvalidModel: ...``)

Heavy imports (numpy, onnxruntime, grpc) happen only in ``serve``, so ``fetch`` starts fast.
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
EXIT_INVALID_MODEL: Final = 6

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
        help="serve ONNX models over Open Inference Protocol REST and gRPC and TF Serving REST",
        description=f"Serve the single *.onnx file in --model-dir. Listens on ${ENV_HTTP_HOST} "
        f"(default {DEFAULT_HTTP_HOST}) at --http-port (HTTP) and --grpc-port (gRPC); Prometheus metrics "
        "on /metrics. See runtime-images/onnxruntime/README.md.",
    )
    from glidepath_runtime import serve_command

    serve_command.add_arguments(serve)

    fetch = commands.add_parser(
        "fetch",
        help="download a model (file, directory prefix or archive), verify its sha256, lay it out",
        description="Fetch URI (http, https, s3, gs, file, pvc; a trailing / fetches a directory prefix; "
        ".tar.gz/.tgz/.tar/.zip are unpacked safely) into DEST, verified and laid out before it is moved in. "
        "Credentials only from the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS[_JSON], "
        f"GLIDEPATH_HTTP_HEADERS). Writes a one-line outcome to ${ENV_TERMINATION_LOG} (default "
        f"{KUBERNETES_TERMINATION_LOG} if writable), first word Verified, Fetched, InvalidArgument, "
        "FetchFailed, ChecksumMismatch or InvalidModel. Exit codes: 0 ok, 2 usage, 3 fetch failed, "
        "4 sha256 mismatch, 6 invalid model.",
    )
    fetch.add_argument("uri", metavar="URI", help="model URI: a file, an archive or a directory prefix")
    fetch.add_argument("dest", metavar="DEST", type=Path, help="target directory (created if missing)")
    fetch.add_argument(
        "--sha256",
        default=None,
        metavar="HEX",
        help="expected SHA-256 of the file or archive, or the tree digest of a directory (see README)",
    )
    fetch.add_argument(
        "--format",
        dest="model_format",
        default="onnx",
        metavar="{onnx,tensorflow}",
        help="onnx: as is; tensorflow: DEST/<version>/saved_model.pb for TF Serving (default %(default)s)",
    )
    fetch.add_argument(
        "--version",
        "--model-version",
        dest="model_version",
        default=None,
        metavar="V",
        help="TF Serving version directory for --format tensorflow (digits, default 1)",
    )
    fetch.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per connect/read (default %(default)s)"
    )
    fetch.add_argument(
        "--attempts",
        type=int,
        default=5,
        help="attempts per operation on transient errors (default %(default)s)",
    )
    fetch.add_argument(
        "--backoff",
        type=float,
        default=1.0,
        help="seconds before the first retry, doubling each time, at most 30 (default %(default)s)",
    )
    fetch.add_argument(
        "--deadline",
        type=float,
        default=600.0,
        help="no retry starts later than this many seconds after an operation's first attempt "
        "(default %(default)s)",
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
    from glidepath_runtime.serve_command import model_specs, settings_from

    try:
        settings = settings_from(args)
        specs = model_specs(args)
    except ValueError as exc:
        return _fail("serve", str(exc), EXIT_USAGE)
    models = []
    for name, version, directory in specs:
        try:
            path = find_model_file(directory)
        except ModelDirError as exc:
            return _fail("serve", str(exc), EXIT_MODEL_ERROR)
        models.append(Model(name, path, version, session=settings.session))

    from glidepath_runtime import logs
    from glidepath_runtime.server import serve

    logs.configure(args.log_level, json=args.log_format == "json")
    try:
        if serve(models, settings):
            return EXIT_OK
    except OSError as exc:
        return _fail("serve", f"cannot listen: {exc}", EXIT_INTERNAL)
    failed = next(m for m in models if m.load_error)
    return _fail(
        "serve",
        f"model {failed.name!r} failed to load from {failed.path}: {failed.load_error}",
        EXIT_MODEL_ERROR,
    )


def _fetch(args: argparse.Namespace) -> int:
    import signal

    from glidepath_runtime.fetch import FetchError, RetryPolicy, fetch
    from glidepath_runtime.storage.redaction import Redactor

    redact = Redactor.from_env(os.environ, args.uri)

    def outcome(line: str, *, error: bool) -> None:
        line = redact(line)
        print(f"glidepath-runtime fetch: {line}" if error else line, file=sys.stderr if error else sys.stdout)
        sys.stdout.flush()
        write_termination_message(line)

    def on_sigterm(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through fetch's cleanup of its staging directory

    signal.signal(signal.SIGTERM, on_sigterm)
    if args.attempts < 1 or args.backoff < 0 or args.deadline < 0 or args.timeout <= 0:
        outcome(
            "InvalidArgument: --attempts must be >= 1, --backoff and --deadline >= 0, --timeout > 0",
            error=True,
        )
        return EXIT_USAGE
    policy = RetryPolicy(attempts=args.attempts, backoff=args.backoff, deadline=args.deadline)
    try:
        result = fetch(
            args.uri,
            args.dest,
            sha256=args.sha256,
            model_format=args.model_format,
            version=args.model_version,
            timeout=args.timeout,
            retry=policy,
            log=lambda line: print(redact(line), file=sys.stderr, flush=True),
        )
    except FetchError as exc:
        outcome(f"{exc.reason}: {exc}", error=True)
        return exc.exit_code
    except Exception as exc:  # a bug: still a termination message, never a credential
        outcome(f"FetchFailed: internal error: {type(exc).__name__}: {exc}", error=True)
        return EXIT_INTERNAL
    outcome(result.message(), error=False)
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
