"""The fetcher's errors: each carries the CLI exit code and the termination-message reason it maps to."""

from __future__ import annotations

from typing import ClassVar, Final

#: First token of the termination message on success, sha256 checked.
REASON_VERIFIED: Final = "Verified"
#: First token of the termination message on success without ``--sha256``.
REASON_FETCHED: Final = "Fetched"


class FetchError(Exception):
    """A fetch that failed. ``exit_code`` is the CLI's exit status, ``reason`` the first token of the
    termination message (one CamelCase word the operator maps to a condition reason)."""

    exit_code: ClassVar[int] = 1
    reason: ClassVar[str] = "FetchFailed"


class FetchUsageError(FetchError):
    """Bad arguments or an unusable URI: unsupported scheme, no file name, malformed digest or version, a
    scheme whose client library this image lacks. Exit 2, ``InvalidArgument``."""

    exit_code = 2
    reason = "InvalidArgument"


class SourceError(FetchError):
    """The URI could not be read completely (HTTP/S3/GCS error, connection failure, timeout, missing
    object, truncated body; transient causes only after the retries ran out) or the destination could not
    be written. Exit 3, ``FetchFailed``."""

    exit_code = 3
    reason = "FetchFailed"


class ChecksumMismatch(FetchError):
    """The downloaded bytes' SHA-256 (or tree digest) differs from the expected one. Exit 4,
    ``ChecksumMismatch``."""

    exit_code = 4
    reason = "ChecksumMismatch"

    def __init__(self, uri: str, expected: str, actual: str, *, tree: bool = False, files: int = 1) -> None:
        what = f" (tree digest of {files} files, see the README)" if tree else ""
        super().__init__(f"sha256 mismatch for {uri}: expected {expected}, got {actual}{what}")
        self.expected = expected
        self.actual = actual


class InvalidModel(FetchError):
    """The bytes arrived but are not a usable model: an unsafe or corrupt archive (``../``, absolute
    paths, links, devices), no or several SavedModels for ``--format tensorflow``, an unsupported file
    name. Retrying does not help. Exit 6, ``InvalidModel``."""

    exit_code = 6
    reason = "InvalidModel"


class StorageError(Exception):
    """One failed storage operation inside a backend (not shown to users as is).

    Args:
        cause: what went wrong, for the final message (never a credential).
        transient: worth retrying (timeouts, 5xx, 429, connection reset, truncated body).
    """

    def __init__(self, cause: str, *, transient: bool) -> None:
        super().__init__(cause)
        self.cause = cause
        self.transient = transient
