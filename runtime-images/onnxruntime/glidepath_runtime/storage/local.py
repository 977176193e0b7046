"""``file://`` and ``pvc://`` (a claim the operator mounted read-only): a local file or directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from glidepath_runtime.storage.base import CHUNK, Entry, Listing, Sink
from glidepath_runtime.storage.errors import InvalidModel, StorageError
from glidepath_runtime.storage.uri import ModelURI


class LocalBackend:
    """A local file, or every regular file under a local directory (symlinks inside it are refused:
    the tree digest would not cover what they point to)."""

    def __init__(self, uri: ModelURI) -> None:
        self._uri = uri
        self._root = Path(uri.key)

    def list(self) -> Listing:
        """See :class:`~glidepath_runtime.storage.base.Backend`."""
        try:
            info = self._root.stat()
        except FileNotFoundError as exc:
            raise StorageError(f"no such file or directory: {self._root}", transient=False) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {self._root}: {exc.strerror or exc}", transient=False) from exc
        if stat.S_ISREG(info.st_mode):
            if self._uri.is_prefix:
                raise StorageError(f"{self._root} is a file, not a directory", transient=False)
            return Listing((Entry(self._root.name, str(self._root), info.st_size),), tree=False)
        if not stat.S_ISDIR(info.st_mode):
            raise InvalidModel(f"{self._uri.display}: {self._root} is not a regular file or directory")
        entries: list[Entry] = []

        def fail(exc: OSError) -> None:
            raise StorageError(f"cannot read {exc.filename}: {exc.strerror or exc}", transient=False)

        for dirpath, dirnames, filenames in os.walk(self._root, onerror=fail):
            for name in sorted(dirnames + filenames):
                path = Path(dirpath, name)
                mode = path.lstat().st_mode
                rel = path.relative_to(self._root).as_posix()
                if stat.S_ISLNK(mode):
                    raise InvalidModel(
                        f"{self._uri.display}: {rel!r} is a symlink; model directories must hold regular "
                        "files only"
                    )
                if stat.S_ISREG(mode):
                    entries.append(Entry(rel, str(path), path.stat().st_size))
                elif not stat.S_ISDIR(mode):
                    raise InvalidModel(f"{self._uri.display}: {rel!r} is not a regular file or directory")
        if not entries:
            raise StorageError(f"directory {self._root} holds no files", transient=False)
        return Listing(tuple(sorted(entries, key=lambda e: e.path)), tree=True)

    def download(self, entry: Entry, out: Sink) -> None:
        """See :class:`~glidepath_runtime.storage.base.Backend`."""
        try:
            with open(entry.ref, "rb") as source:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
        except OSError as exc:
            raise StorageError(f"cannot read {entry.ref}: {exc.strerror or exc}", transient=False) from exc
