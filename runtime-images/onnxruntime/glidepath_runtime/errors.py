"""Errors that the server turns into HTTP responses.

Each class carries the HTTP status it maps to, so codecs and the model raise protocol-level errors
without knowing about HTTP, and the ASGI layer renders them as ``{"error": "<message>"}`` (the Open
Inference Protocol REST error body). Anything else that escapes is a server bug and becomes a 500.
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base class: an error with a message meant for the client and an HTTP status."""

    status: int = 500


class BadRequest(InferenceError):
    """The client sent something invalid: malformed JSON, a missing or unknown input, a wrong datatype,
    a shape that does not match the data or the model. HTTP 400."""

    status = 400


class NotFound(InferenceError):
    """An unknown model, version or path. HTTP 404."""

    status = 404


class MethodNotAllowed(InferenceError):
    """A known path asked with the wrong HTTP method. HTTP 405."""

    status = 405


class PayloadTooLarge(InferenceError):
    """A request body larger than the server accepts. HTTP 413."""

    status = 413


class NotReady(InferenceError):
    """The model is still loading (or failed to load). HTTP 503."""

    status = 503


class Overloaded(InferenceError):
    """The model's queue is full: the client should retry later (HTTP 503 with ``Retry-After``)."""

    status = 503
    retry_after_seconds = 1
