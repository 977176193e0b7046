"""``glidepath-runtime serve``: its flags (each also settable by an environment variable) and its run.

The operator renders ``serve --model-name NAME --model-dir /mnt/models --model-version V --http-port 8080``
and probes ``/v2/health/live`` and ``/v2/models/NAME/ready``; everything else has a default that fits
a pod. A flag wins over its variable; the variable wins over the default.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Final

from glidepath_runtime.config import (
    AUTO_PROVIDERS,
    GRAPH_OPTIMIZATION_LEVELS,
    BatchingSettings,
    ServerSettings,
    SessionSettings,
)

ENV_HTTP_HOST: Final = "GLIDEPATH_HTTP_HOST"
DEFAULT_HTTP_HOST: Final = "0.0.0.0"  # a pod listens on its IP
DEFAULT_HTTP_PORT: Final = 8080
DEFAULT_GRPC_PORT: Final = 9000

#: (flag, variable, type, default, help) of the settings beyond the model's identity.
_SETTINGS: Final[list[tuple[str, str, type, str, str]]] = [
    (
        "--max-batch-size",
        "GLIDEPATH_MAX_BATCH_SIZE",
        int,
        "0",
        "dynamic batching: most rows per model execution; 0 is off",
    ),
    (
        "--max-queue-delay-us",
        "GLIDEPATH_MAX_QUEUE_DELAY_US",
        int,
        "0",
        "dynamic batching: microseconds a request may wait for a batch to fill",
    ),
    (
        "--max-queue-size",
        "GLIDEPATH_MAX_QUEUE_SIZE",
        int,
        "256",
        "requests waiting per model beyond which new ones get 503 + Retry-After",
    ),
    (
        "--max-body-bytes",
        "GLIDEPATH_MAX_BODY_BYTES",
        int,
        str(64 * 1024 * 1024),
        "largest request body (HTTP 413) or gRPC message",
    ),
    (
        "--intra-op-threads",
        "GLIDEPATH_INTRA_OP_THREADS",
        int,
        "0",
        "ONNX Runtime intra-op threads; 0: the container's CPU limit (cgroup quota, rounded up)",
    ),
    (
        "--inter-op-threads",
        "GLIDEPATH_INTER_OP_THREADS",
        int,
        "0",
        "ONNX Runtime inter-op threads; 0: as intra-op",
    ),
    (
        "--graph-optimization-level",
        "GLIDEPATH_GRAPH_OPTIMIZATION_LEVEL",
        str,
        "all",
        f"ONNX Runtime graph optimization: {', '.join(GRAPH_OPTIMIZATION_LEVELS)}",
    ),
    (
        "--execution-providers",
        "GLIDEPATH_EXECUTION_PROVIDERS",
        str,
        AUTO_PROVIDERS,
        "comma-separated ONNX Runtime execution providers (cuda, cpu, …); auto: CUDA if this "
        "onnxruntime has it, then CPU",
    ),
    (
        "--inline-run-ms",
        "GLIDEPATH_INLINE_RUN_MS",
        float,
        "1.0",
        "model executions expected to take less run on the event loop, longer ones on the model's "
        "thread; 0: always the thread",
    ),
    (
        "--shutdown-delay",
        "GLIDEPATH_SHUTDOWN_DELAY",
        float,
        "5",
        "seconds from SIGTERM (readiness false) to closing the listeners, serving meanwhile",
    ),
    (
        "--drain-timeout",
        "GLIDEPATH_DRAIN_TIMEOUT",
        float,
        "20",
        "seconds to let in-flight requests finish after the listeners close",
    ),
    (
        "--keepalive-timeout",
        "GLIDEPATH_KEEPALIVE_TIMEOUT",
        float,
        "75",
        "seconds an idle HTTP keep-alive connection stays open",
    ),
    ("--log-format", "GLIDEPATH_LOG_FORMAT", str, "json", "json (one object per line) or text"),
]


def add_arguments(serve: argparse.ArgumentParser) -> None:
    """Add ``serve``'s flags to its sub-parser."""
    serve.add_argument("--model-name", required=True, help="model name in URLs (/v2/models/NAME)")
    serve.add_argument("--model-dir", required=True, type=Path, help="directory holding exactly one *.onnx")
    serve.add_argument("--model-version", default=None, help="model version (/v2/models/NAME/versions/V)")
    serve.add_argument(
        "--extra-model",
        action="append",
        default=[],
        metavar="NAME[@VERSION]=DIR",
        help="serve another model from the same process (repeatable)",
    )
    serve.add_argument(
        "--http-port",
        type=int,
        default=os.environ.get("GLIDEPATH_HTTP_PORT", str(DEFAULT_HTTP_PORT)),
        help="HTTP port (default %(default)s; $GLIDEPATH_HTTP_PORT)",
    )
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=os.environ.get("GLIDEPATH_GRPC_PORT"),
        help=f"gRPC port; 0 turns gRPC off (default {DEFAULT_GRPC_PORT}, and then a port already taken only "
        "logs an error; given explicitly, it is fatal; $GLIDEPATH_GRPC_PORT)",
    )
    for flag, variable, kind, default, text in _SETTINGS:
        serve.add_argument(
            flag,
            type=kind,
            default=os.environ.get(variable, default),
            help=f"{text} (default {default}; ${variable})",
        )
    serve.add_argument(
        "--log-level",
        default=os.environ.get("GLIDEPATH_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="default %(default)s; $GLIDEPATH_LOG_LEVEL",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=os.environ.get("GLIDEPATH_ACCESS_LOG", "") not in ("", "0", "false"),
        help="log one JSON line per HTTP request ($GLIDEPATH_ACCESS_LOG=1)",
    )


def settings_from(args: argparse.Namespace) -> ServerSettings:
    """The server settings the parsed flags ask for.

    Raises:
        ValueError: a value is out of range (the message names the flag).
    """
    grpc_required = args.grpc_port is not None
    if args.grpc_port is None:
        args.grpc_port = DEFAULT_GRPC_PORT
    checks = [
        (args.http_port, "--http-port", 0 <= args.http_port <= 65535),
        (args.grpc_port, "--grpc-port", 0 <= args.grpc_port <= 65535),
        (args.max_batch_size, "--max-batch-size", args.max_batch_size >= 0),
        (args.max_queue_delay_us, "--max-queue-delay-us", args.max_queue_delay_us >= 0),
        (args.max_queue_size, "--max-queue-size", args.max_queue_size >= 1),
        (args.max_body_bytes, "--max-body-bytes", args.max_body_bytes >= 1),
        (args.intra_op_threads, "--intra-op-threads", args.intra_op_threads >= 0),
        (args.inter_op_threads, "--inter-op-threads", args.inter_op_threads >= 0),
        (args.inline_run_ms, "--inline-run-ms", args.inline_run_ms >= 0),
        (args.shutdown_delay, "--shutdown-delay", args.shutdown_delay >= 0),
        (args.drain_timeout, "--drain-timeout", args.drain_timeout >= 0),
        (args.keepalive_timeout, "--keepalive-timeout", args.keepalive_timeout > 0),
        (
            args.graph_optimization_level,
            "--graph-optimization-level",
            args.graph_optimization_level in GRAPH_OPTIMIZATION_LEVELS,
        ),
        (args.log_format, "--log-format", args.log_format in ("json", "text")),
    ]
    for value, flag, ok in checks:
        if not ok:
            raise ValueError(f"{flag} {value!r} is out of range")
    if args.grpc_port and args.grpc_port == args.http_port:
        raise ValueError(f"--grpc-port and --http-port are both {args.http_port}")
    providers = tuple(p.strip() for p in args.execution_providers.split(",") if p.strip())
    return ServerSettings(
        host=os.environ.get(ENV_HTTP_HOST) or DEFAULT_HTTP_HOST,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        grpc_required=grpc_required,
        max_body_bytes=args.max_body_bytes,
        max_queue_size=args.max_queue_size,
        inline_run_seconds=args.inline_run_ms / 1000,
        shutdown_delay=args.shutdown_delay,
        drain_timeout=args.drain_timeout,
        keepalive_timeout=args.keepalive_timeout,
        access_log=args.access_log,
        session=SessionSettings(
            intra_op_threads=args.intra_op_threads,
            inter_op_threads=args.inter_op_threads,
            graph_optimization_level=args.graph_optimization_level,
            execution_providers=providers or (AUTO_PROVIDERS,),
        ),
        batching=BatchingSettings(args.max_batch_size, args.max_queue_delay_us),
    )


def model_specs(args: argparse.Namespace) -> list[tuple[str, str | None, Path]]:
    """(name, version, directory) of the main model and each ``--extra-model``.

    Raises:
        ValueError: a malformed ``--extra-model``, a name with ``/``, or a name given twice.
    """
    specs: list[tuple[str, str | None, Path]] = [(args.model_name, args.model_version, args.model_dir)]
    for value in args.extra_model:
        target, sep, directory = value.partition("=")
        name, _, version = target.partition("@")
        if not sep or not name or not directory:
            raise ValueError(f"--extra-model must be NAME[@VERSION]=DIR, got {value!r}")
        specs.append((name, version or None, Path(directory)))
    names = [name for name, _, _ in specs]
    for name in names:
        if not name or "/" in name:
            raise ValueError(f"--model-name must be non-empty and without '/', got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    return specs
