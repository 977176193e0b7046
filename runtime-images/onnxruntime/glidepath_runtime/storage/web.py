"""``http://`` and ``https://``: one file (or archive) per URI, standard library only.

Extra request headers (an ``Authorization`` token, an API key) come from ``$GLIDEPATH_HTTP_HEADERS``, a
JSON object of header names to values that the operator fills from a Secret. They, and basic-auth
``user:password@`` from the URI, are sent only to the URI's origin: a redirect to another scheme, host or
port drops them (presigned object-store redirects would refuse them anyway).
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import IO, Final

from glidepath_runtime import __version__
from glidepath_runtime.storage.base import CHUNK, Entry, Listing, Sink
from glidepath_runtime.storage.errors import FetchUsageError, StorageError
from glidepath_runtime.storage.uri import ModelURI

ENV_HTTP_HEADERS: Final = "GLIDEPATH_HTTP_HEADERS"
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: HTTP statuses worth retrying: request timeout, too many requests, and every 5xx.
_TRANSIENT_STATUS: Final = frozenset({408, 425, 429})


def headers_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The extra headers in ``$GLIDEPATH_HTTP_HEADERS`` (absent or empty: none).

    Raises:
        FetchUsageError: not a JSON object of string names (HTTP tokens) to string values without line
            breaks. The message never quotes a value.
    """
    raw = env.get(ENV_HTTP_HEADERS, "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise FetchUsageError(f"${ENV_HTTP_HEADERS} must be a JSON object of header names to values")
    headers: dict[str, str] = {}
    for name, value in data.items():
        if not (isinstance(name, str) and _TOKEN.fullmatch(name)):
            raise FetchUsageError(f"${ENV_HTTP_HEADERS}: {str(name)[:40]!r} is not a valid header name")
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise FetchUsageError(
                f"${ENV_HTTP_HEADERS}: the value of {name!r} must be a string without line breaks"
            )
        headers[name] = value
    return headers


class WebBackend:
    """One file over HTTP(S) with ``urllib``; Content-Length, when sent, is checked."""

    def __init__(self, uri: ModelURI, headers: Mapping[str, str], timeout: float) -> None:
        parts = urllib.parse.urlsplit(uri.raw)
        self._display = uri.display
        self._name = urllib.parse.unquote(uri.name)
        secret = dict(headers)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, netloc = netloc.rsplit("@", 1)
            user, _, password = userinfo.partition(":")
            pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
            secret.setdefault("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
        self._url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        self._secret_headers = secret
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_SameOriginRedirectHandler())

    def list(self) -> Listing:
        """See :class:`~glidepath_runtime.storage.base.Backend`: the URI's one file, size unknown yet."""
        return Listing((Entry(self._name, self._url, None),), tree=False)

    def download(self, entry: Entry, out: Sink) -> None:
        """See :class:`~glidepath_runtime.storage.base.Backend`."""
        request = urllib.request.Request(
            entry.ref, headers={"User-Agent": f"glidepath-runtime/{__version__}"}
        )
        for name, value in self._secret_headers.items():
            request.add_unredirected_header(name, value)
        try:
            response: http.client.HTTPResponse = self._opener.open(request, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            transient = exc.code >= 500 or exc.code in _TRANSIENT_STATUS
            raise StorageError(f"HTTP {exc.code} {exc.reason}", transient=transient) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            cause = reason if isinstance(reason, BaseException) else OSError(str(reason))
            raise _network_error(cause) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _network_error(exc) from exc
        with response:
            header = response.headers.get("Content-Length")
            expected = int(header) if header and header.isdigit() else None
            received = 0
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _network_error(exc, f" after {received} bytes") from exc
                if not chunk:
                    break
                received += len(chunk)
                out.write(chunk)
        if expected is not None and received != expected:
            raise StorageError(
                f"truncated body: got {received} of {expected} bytes (connection closed early)",
                transient=True,
            )


def _network_error(exc: BaseException, context: str = "") -> StorageError:
    """A connection-level failure: timeouts, resets, refusals and early closes are transient; TLS
    verification failures and unknown hosts are not."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return StorageError(f"timed out{context}", transient=True)
    if isinstance(exc, http.client.IncompleteRead):
        return StorageError(f"truncated body{context}: connection closed early", transient=True)
    if isinstance(exc, socket.gaierror):
        return StorageError(f"cannot resolve host: {exc.strerror}", transient=exc.errno == socket.EAI_AGAIN)
    if isinstance(exc, ConnectionError | http.client.HTTPException):
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return StorageError(f"{text}{context}", transient=True)
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT):
        return StorageError(f"{exc.strerror}{context}", transient=True)
    return StorageError(f"{exc}{context}", transient=False)


class _SameOriginRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects; keeps the secret (unredirected) headers only when scheme, host and port stay."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(req.full_url) == _origin(new.full_url):
            for name, value in req.unredirected_hdrs.items():
                if name.lower() not in ("host", "content-length", "content-type"):
                    new.add_unredirected_header(name, value)
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or ""), parts.port or default
