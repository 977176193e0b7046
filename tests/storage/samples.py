"""Sample model payloads: file trees, tar.gz and zip archives (also hostile ones), and the shell
pipeline the README documents for a directory's digest."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

#: A small model tree with names that sort differently by bytes than by "natural" order.
TREE: Mapping[str, bytes] = {
    "model.onnx": b"pretend ONNX graph\n" * 200,
    "config/labels.txt": b"cat\ndog\n",
    "config-extra.json": b"{}\n",
    "Weights/part 1.bin": bytes(range(256)) * 10,
    "weights/part-2.bin": b"",
    "\u00e9tiquettes.txt": b"unicode name\n",
}

#: The pipeline documented in runtime-images/onnxruntime/README.md, run in the directory.
TREE_DIGEST_PIPELINE = "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum"


def sha256(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (relative path -> bytes) under ``root``; returns ``root``."""
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def shell_tree_digest(root: Path) -> str:
    """The tree digest of ``root`` as the README's shell pipeline computes it."""
    done = subprocess.run(
        ["bash", "-c", TREE_DIGEST_PIPELINE], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.split()[0]


def tar_gz(
    files: Mapping[str, bytes], *, links: Mapping[str, str] | None = None, hard: bool = False
) -> bytes:
    """A .tar.gz of ``files`` plus symlinks (or hard links) ``links`` (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def tar_special(name: str, kind: bytes) -> bytes:
    """A .tar.gz with one member of tar type ``kind`` (e.g. ``tarfile.CHRTYPE``, ``tarfile.FIFOTYPE``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        tar.addfile(info)
    return buffer.getvalue()


def zip_bytes(files: Mapping[str, bytes], *, symlinks: Mapping[str, str] | None = None) -> bytes:
    """A .zip of ``files`` (names written as given, even hostile ones) plus unix symlink entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buffer.getvalue()
