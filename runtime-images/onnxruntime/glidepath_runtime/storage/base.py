"""What every storage backend provides: list what a URI names, and download one entry of that list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

from glidepath_runtime.storage.errors import SourceError

#: Bytes per read/write when streaming.
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One file to download.

    Attributes:
        path: its relative POSIX path in the fetched tree (a single object: its file name); checked by the
            caller before anything is written.
        ref: what the backend reads it from: an object key, a local path, a URL.
        size: its size in bytes when the listing says, to detect a truncated download.
    """

    path: str
    ref: str
    size: int | None


@dataclass(frozen=True, slots=True)
class Listing:
    """What a URI names: one object (``tree`` false) or every object under a directory prefix."""

    entries: tuple[Entry, ...]
    tree: bool


class Backend(Protocol):
    """A storage backend; both methods raise :class:`~glidepath_runtime.storage.errors.StorageError`
    (transient or not) for storage failures, which the caller retries as its policy says."""

    def list(self) -> Listing:
        """The object the URI names, or the objects under its prefix (never empty)."""
        ...

    def download(self, entry: Entry, out: Sink) -> None:
        """Write all bytes of ``entry`` to ``out``."""
        ...


class SinkError(SourceError):
    """The destination could not be written (disk full, read-only). Not retried."""


class Sink:
    """A write-only file for backends: a failing write raises :class:`SinkError` (not ``OSError``), so
    a backend that maps ``OSError`` to a network failure can never mistake a full disk for one."""

    def __init__(self, stream: BinaryIO, where: str) -> None:
        self._stream = stream
        self._where = where
        self.written = 0

    def write(self, data: bytes) -> int:
        """Write ``data``; returns its length."""
        try:
            self._stream.write(data)
        except OSError as exc:
            raise SinkError(f"cannot write {self._where}: {exc}") from exc
        self.written += len(data)
        return len(data)

    def writable(self) -> bool:
        """Always true (for libraries that ask)."""
        return True
