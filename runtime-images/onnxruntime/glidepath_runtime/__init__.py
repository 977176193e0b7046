"""Glidepath's ONNX Runtime model server and model fetcher.

A separate distribution from the operator (it imports nothing of ``glidepath``). Layout:

- :mod:`glidepath_runtime.datatypes`: Open Inference Protocol datatypes <-> numpy <-> ONNX Runtime types.
- :mod:`glidepath_runtime.model`: :class:`~glidepath_runtime.model.Model`, one ONNX Runtime session.
- :mod:`glidepath_runtime.protocols`: codecs per wire protocol (pure: bytes <-> numpy, no HTTP).
- :mod:`glidepath_runtime.scheduler`: per-model queue, dynamic batcher and executor.
- :mod:`glidepath_runtime.service`: the served models and their readiness, shared by every protocol.
- :mod:`glidepath_runtime.http`: the HTTP/1.1 server (asyncio protocol on httptools).
- :mod:`glidepath_runtime.rest`: HTTP routes (Open Inference Protocol REST, TF Serving REST, metrics).
- :mod:`glidepath_runtime.grpc_server`: the Open Inference Protocol gRPC service.
- :mod:`glidepath_runtime.config`, :mod:`glidepath_runtime.serve_command`: settings and ``serve`` flags.
- :mod:`glidepath_runtime.logs`: JSON logs.
- :mod:`glidepath_runtime.server`: runs HTTP and gRPC on one event loop, with graceful shutdown.
- :mod:`glidepath_runtime.metrics`: the Prometheus metric names, defined once.
- :mod:`glidepath_runtime.fetch`: the init-container model fetcher (standard library only).
- :mod:`glidepath_runtime.cli`: the ``glidepath-runtime`` command.
"""

__version__ = "0.1.0"
