"""Glidepath's ONNX Runtime model server and model fetcher.

A separate distribution from the operator (it imports nothing of ``glidepath``). Layout:

- :mod:`glidepath_runtime.datatypes`: Open Inference Protocol datatypes <-> numpy <-> ONNX Runtime types.
- :mod:`glidepath_runtime.model`: :class:`~glidepath_runtime.model.Model`, one ONNX Runtime session.
- :mod:`glidepath_runtime.protocols`: codecs per wire protocol (pure: bytes <-> numpy, no HTTP).
- :mod:`glidepath_runtime.app`: the raw ASGI application (routing, bodies, status codes, metrics).
- :mod:`glidepath_runtime.server`: runs the app on uvicorn.
- :mod:`glidepath_runtime.metrics`: the Prometheus metric names, defined once.
- :mod:`glidepath_runtime.fetch`: the init-container model fetcher (standard library only).
- :mod:`glidepath_runtime.cli`: the ``glidepath-runtime`` command.
"""

__version__ = "0.1.0"
