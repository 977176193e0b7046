"""SHA-256 of one file, and the tree digest of a directory that standard tools reproduce.

The tree digest of a directory is what this pipeline prints, run in the directory (GNU coreutils,
findutils)::

    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum

i.e. the SHA-256 of the ``sha256sum`` lines ``<hex>  ./<relative path>\\n`` of every regular file, sorted by
the bytes of ``./<relative path>``. File names holding a newline, carriage return or backslash (which
``sha256sum`` escapes) are refused, so the two always agree.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from glidepath_runtime.storage.errors import InvalidModel

_CHUNK: Final = 1024 * 1024
_UNSAFE_CHARS: Final = ("\n", "\r", "\\", "\0")


def file_sha256(path: Path) -> str:
    """Lowercase hex SHA-256 of the file at ``path``."""
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def check_relative_path(path: str, where: str) -> list[str]:
    """The segments of relative POSIX ``path`` (``.`` and empty segments dropped).

    Raises:
        InvalidModel: ``path`` is absolute, has a ``..`` segment, a backslash, newline, carriage return or
            NUL, or no segment at all; the message names ``where`` (the redacted URI) and the path.
    """
    if path.startswith("/"):
        raise InvalidModel(f"{where}: refusing absolute path {path!r}")
    if any(char in path for char in _UNSAFE_CHARS):
        raise InvalidModel(
            f"{where}: refusing file name {path!r} (backslash, newline, carriage return and NUL are not allowed)"
        )
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise InvalidModel(f"{where}: refusing path {path!r}: '..' would escape the destination")
    if not segments:
        raise InvalidModel(f"{where}: refusing empty path {path!r}")
    return segments


def tree_digest(files: Mapping[str, str]) -> str:
    """The tree digest (see the module doc) of ``files``: relative POSIX path -> lowercase hex SHA-256."""
    hasher = hashlib.sha256()
    for rel in sorted(files, key=lambda r: os.fsencode(r)):
        hasher.update(files[rel].encode("ascii") + b"  ./" + os.fsencode(rel) + b"\n")
    return hasher.hexdigest()


def directory_digest(root: Path) -> str:
    """The tree digest of every regular file under ``root`` (symlinks are not followed nor counted)."""
    files: dict[str, str] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(root).as_posix()] = file_sha256(path)
    return tree_digest(files)
