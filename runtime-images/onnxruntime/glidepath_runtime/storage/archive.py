"""Safe unpacking of ``.tar.gz``/``.tgz``/``.tar`` and ``.zip`` model archives.

Every member is checked before anything is written: only regular files and directories, relative paths
without ``..``, no absolute paths, no symlinks or hard links (inside or outside the tree), no devices or
FIFOs, no encrypted zip entries, and the unpacked size must fit the free space. Files are written with mode
0644 and directories 0755, whatever the archive says.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from glidepath_runtime.storage.digest import check_relative_path
from glidepath_runtime.storage.errors import InvalidModel

#: Names ending in one of these are unpacked (case-insensitive).
ARCHIVE_SUFFIXES: Final = (".tar.gz", ".tgz", ".tar", ".zip")
_CHUNK: Final = 1024 * 1024


def is_archive(name: str) -> bool:
    """Whether a file called ``name`` is unpacked rather than kept as is."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True, slots=True)
class _Member:
    segments: list[str]
    is_dir: bool
    size: int
    handle: tarfile.TarInfo | zipfile.ZipInfo


def unpack(archive: Path, dest: Path, where: str) -> int:
    """Unpack ``archive`` into the existing empty directory ``dest``; returns the number of files.

    Args:
        where: names the archive in messages (the redacted URI).

    Raises:
        InvalidModel: an unsafe member (the message names it and why), a corrupt or unreadable archive,
            or more unpacked bytes than ``dest`` has free.
    """
    try:
        if archive.name.lower().endswith(".zip"):
            return _unpack_zip(archive, dest, where)
        return _unpack_tar(archive, dest, where)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InvalidModel(f"{where}: corrupt archive: {exc}") from exc


def _unpack_tar(archive: Path, dest: Path, where: str) -> int:
    with tarfile.open(archive, "r:*") as tar:
        members: list[_Member] = []
        for info in tar.getmembers():
            kind = _tar_kind(info)
            if kind == "link":
                target = info.linkname
                escapes = target.startswith("/") or ".." in target.split("/")
                what = "symlink" if info.issym() else "hard link"
                raise InvalidModel(
                    f"{where}: refusing archive member {info.name!r}: a {what} to {target!r}"
                    + (" escapes the destination" if escapes else "")
                    + "; links are not allowed in model archives"
                )
            if kind == "other":
                raise InvalidModel(
                    f"{where}: refusing archive member {info.name!r}: not a regular file or directory"
                )
            if kind == "dir" and info.name.strip("/.") == "":
                continue  # the archive's own root, "./"
            segments = check_relative_path(info.name, f"{where}: archive member")
            members.append(_Member(segments, kind == "dir", info.size, info))
        _check_space(members, dest, where)

        def open_member(member: _Member) -> IO[bytes]:
            assert isinstance(member.handle, tarfile.TarInfo)
            stream = tar.extractfile(member.handle)
            if stream is None:  # pragma: no cover - regular files always have a stream
                raise InvalidModel(f"{where}: cannot read archive member {member.handle.name!r}")
            return stream

        return _write(members, dest, where, open_member)


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym() or info.islnk():
        return "link"
    return "other"


def _unpack_zip(archive: Path, dest: Path, where: str) -> int:
    with zipfile.ZipFile(archive) as zf:
        members: list[_Member] = []
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise InvalidModel(
                    f"{where}: refusing archive member {info.filename!r}: a symlink; "
                    "links are not allowed in model archives"
                )
            kind = stat.S_IFMT(mode)  # 0 when the creator recorded no unix type (Windows tools, writestr)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise InvalidModel(
                    f"{where}: refusing archive member {info.filename!r}: not a regular file or directory"
                )
            if info.flag_bits & 0x1:
                raise InvalidModel(f"{where}: refusing archive member {info.filename!r}: it is encrypted")
            if info.is_dir() and info.filename.strip("/.") == "":
                continue
            segments = check_relative_path(info.filename, f"{where}: archive member")
            members.append(_Member(segments, info.is_dir(), info.file_size, info))
        _check_space(members, dest, where)

        def open_member(member: _Member) -> IO[bytes]:
            assert isinstance(member.handle, zipfile.ZipInfo)
            return zf.open(member.handle)

        return _write(members, dest, where, open_member)


def _check_space(members: list[_Member], dest: Path, where: str) -> None:
    total = sum(m.size for m in members if not m.is_dir)
    free = shutil.disk_usage(dest).free
    if total > free:
        raise InvalidModel(f"{where}: archive unpacks to {total} bytes but only {free} bytes are free")


def _write(
    members: list[_Member], dest: Path, where: str, open_member: Callable[[_Member], IO[bytes]]
) -> int:
    files = 0
    for member in members:
        target = dest.joinpath(*member.segments)
        name = "/".join(member.segments)
        try:
            if member.is_dir:
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            if target.is_dir():
                raise IsADirectoryError(name)
            with open_member(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
            target.chmod(0o644)
            files += 1
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise InvalidModel(
                f"{where}: archive member {name!r} conflicts with another entry (file vs directory)"
            ) from exc
    return files
