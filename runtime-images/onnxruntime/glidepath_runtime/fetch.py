"""The model fetcher (``glidepath-runtime fetch``), run as an init container. Standard library only.

Downloads one ``http://``, ``https://`` or ``file://`` URI into a directory, keeping the URI's file name,
and verifies its SHA-256 when one is given. The file appears under its final name only when complete
and verified: the bytes go to a hidden temporary file in the same directory, which is renamed into place
atomically (``os.replace``) and removed on any failure, so a retried init container never sees a
partial or unverified model.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from glidepath_runtime import __version__

#: URI schemes :func:`fetch` understands.
SCHEMES: Final = ("http", "https", "file")

_CHUNK: Final = 1024 * 1024
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")


class FetchError(Exception):
    """A fetch that failed; ``exit_code`` is the CLI's exit status for it."""

    exit_code: int = 1


class FetchUsageError(FetchError):
    """Bad arguments: unsupported URI scheme, no file name in the URI, malformed digest. Exit 2."""

    exit_code = 2


class SourceError(FetchError):
    """The URI could not be read completely (HTTP error, connection failure, missing file, truncated
    body) or the destination could not be written. Exit 3."""

    exit_code = 3


class ChecksumMismatch(FetchError):
    """The downloaded bytes' SHA-256 differs from the expected one. Exit 4."""

    exit_code = 4

    def __init__(self, uri: str, expected: str, actual: str) -> None:
        super().__init__(f"sha256 mismatch for {uri}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A completed fetch.

    Attributes:
        path: the file written, ``dest/<basename of the URI path>``.
        sha256: its SHA-256, lowercase hex.
        size: its size in bytes.
        verified: whether ``sha256`` was checked against an expected digest.
    """

    path: Path
    sha256: str
    size: int
    verified: bool


def normalize_sha256(digest: str) -> str:
    """Lowercase hex SHA-256 from ``digest`` (an optional ``sha256:`` prefix is accepted).

    Raises:
        FetchUsageError: not 64 hex digits.
    """
    value = digest.strip().lower().removeprefix("sha256:")
    if not _SHA256_RE.fullmatch(value):
        raise FetchUsageError(f"--sha256 must be 64 hex digits, got {digest!r}")
    return value


def target_name(uri: str) -> str:
    """The file name a URI is saved under: the percent-decoded last segment of its path.

    Raises:
        FetchUsageError: the URI's scheme is not one of :data:`SCHEMES`, or its path has no file name.
    """
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.lower() not in SCHEMES:
        raise FetchUsageError(
            f"unsupported scheme {parts.scheme or '(none)'!r} in {uri}; supported: {', '.join(SCHEMES)}"
        )
    name = posixpath.basename(urllib.parse.unquote(parts.path))
    if name in ("", ".", ".."):
        raise FetchUsageError(f"URI {uri} has no file name in its path")
    return name


def fetch(uri: str, dest: Path, *, sha256: str | None = None, timeout: float = 60.0) -> FetchResult:
    """Download ``uri`` into directory ``dest`` (created if missing), verifying ``sha256`` if given.

    Args:
        uri: ``http://``, ``https://`` or ``file://`` (``file:///abs/path`` or ``file://localhost/...``).
        dest: the target directory.
        sha256: expected SHA-256 (hex, any case, optional ``sha256:`` prefix), or ``None`` to skip the
            check (the digest is still computed and returned).
        timeout: seconds to wait for the connection and for each read (HTTP only).

    Returns:
        Where the file went and its digest.

    Raises:
        FetchUsageError, SourceError, ChecksumMismatch: see their docs; on any failure nothing is left
            in ``dest`` (an existing file of the same name is untouched).
    """
    expected = normalize_sha256(sha256) if sha256 is not None else None
    name = target_name(uri)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"cannot create destination directory {dest}: {exc}") from exc
    final = dest / name
    hasher = hashlib.sha256()
    size = 0
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
    except OSError as exc:
        raise SourceError(f"cannot write to destination directory {dest}: {exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _open(uri, timeout) as (source, length):
            while chunk := source.read(_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
            if length is not None and size != length:
                raise SourceError(f"{uri}: got {size} bytes, expected {length} (connection cut?)")
            out.flush()
            os.fsync(out.fileno())
        actual = hasher.hexdigest()
        if expected is not None and actual != expected:
            raise ChecksumMismatch(uri, expected, actual)
        tmp.chmod(0o644)
        os.replace(tmp, final)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | http.client.HTTPException):
            raise SourceError(f"cannot fetch {uri} into {dest}: {exc}") from exc
        raise
    return FetchResult(final, actual, size, expected is not None)


@contextmanager
def _open(uri: str, timeout: float) -> Iterator[tuple[BinaryIO, int | None]]:
    """Open ``uri`` for reading; yields the stream and the expected length when known.

    Raises:
        SourceError: HTTP status >= 400, connection failure, missing file.
    """
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchUsageError(
                f"file URI {uri} names host {parts.netloc!r}; only local files are supported"
            )
        path = urllib.request.url2pathname(urllib.parse.unquote(parts.path))
        try:
            stream: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise SourceError(f"cannot read {uri}: {exc}") from exc
        with stream:
            yield stream, None
        return
    request = urllib.request.Request(uri, headers={"User-Agent": f"glidepath-runtime/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"cannot download {uri}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise SourceError(f"cannot download {uri}: {reason}") from exc
    with response:
        header = response.headers.get("Content-Length")
        yield response, int(header) if header and header.isdigit() else None
