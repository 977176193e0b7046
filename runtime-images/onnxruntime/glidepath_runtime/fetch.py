"""The model fetcher (``glidepath-runtime fetch``), run as an init container.

Downloads what a model URI names into a directory, verifies its SHA-256, lays it out as the runtime expects
and only then moves it into place::

    fetch("s3://models/fraud/3/", Path("/mnt/models"), sha256="...", model_format="tensorflow", version="3")

URIs: ``http(s)://`` (one file), ``s3://bucket/key``, ``gs://bucket/key``, ``file:///path``,
``pvc://claim/path``; a key or path ending in ``/`` (or naming a directory) is fetched recursively.
``.tar.gz``/``.tgz``/``.tar``/``.zip`` files are unpacked safely after the digest check. The digest is the
file's SHA-256 for a single file or archive, and the tree digest (:mod:`glidepath_runtime.storage.digest`)
for a directory.

A ``pvc://`` directory (or, for onnx, file) is served in place, never copied: the claim is mounted
read-only at the same path in the fetcher and the runtime, so the fetcher reads it once for the digest
and puts symlinks into ``dest`` (the file, or the directory's entries; for ``tensorflow``, ``<version>``
pointing at the SavedModel directory). A ``pvc://`` archive is unpacked into ``dest`` like any other.

Everything is staged in a hidden directory inside ``dest`` (same filesystem), so a failure at any point
leaves ``dest`` as it was, and the final moves are renames. Transient storage failures are retried with
exponential backoff (:class:`~glidepath_runtime.storage.retry.RetryPolicy`); 403/404 and other client
errors are not. Messages name the URI with userinfo and query values redacted. Credentials come only from
the environment; see the backends in :mod:`glidepath_runtime.storage`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from glidepath_runtime.storage.archive import is_archive, unpack
from glidepath_runtime.storage.base import Backend, Entry, Listing, Sink, SinkError
from glidepath_runtime.storage.digest import check_relative_path, file_sha256, tree_digest
from glidepath_runtime.storage.errors import (
    REASON_FETCHED,
    REASON_VERIFIED,
    ChecksumMismatch,
    FetchError,
    FetchUsageError,
    InvalidModel,
    SourceError,
    StorageError,
)
from glidepath_runtime.storage.layout import FORMATS, find_saved_model, install, single_directory
from glidepath_runtime.storage.retry import RetriesExhausted, RetryPolicy, call_with_retry
from glidepath_runtime.storage.uri import DEFAULT_PVC_ROOT, ENV_PVC_ROOT, SCHEMES, ModelURI, parse_uri

__all__ = [
    "FORMATS",
    "SCHEMES",
    "ChecksumMismatch",
    "FetchError",
    "FetchResult",
    "FetchUsageError",
    "InvalidModel",
    "RetryPolicy",
    "SourceError",
    "fetch",
    "normalize_sha256",
]

#: Prefix of the staging directory inside DEST; leftovers of a killed run are removed at start.
STAGING_PREFIX: Final = ".glidepath-fetch-"
#: TF Serving's version used when ``--format tensorflow`` gets no ``--version``.
DEFAULT_TF_VERSION: Final = "1"
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_VERSION_RE: Final = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A completed fetch.

    Attributes:
        uri: the URI, redacted.
        paths: what now sits in DEST: the file, the entries of a tree, or ``DEST/<version>``.
        sha256: the digest compared with ``--sha256``: the file's (or archive's) SHA-256, or the tree digest.
        digest_of: ``"file"``, ``"archive"`` or ``"tree"``.
        files: number of files downloaded.
        size: bytes downloaded.
        verified: whether ``sha256`` was checked against an expected digest.
        in_place: the ``paths`` are symlinks into a read-only claim (``pvc://``), nothing was copied.
    """

    uri: str
    paths: tuple[Path, ...]
    sha256: str
    digest_of: str
    files: int
    size: int
    verified: bool
    in_place: bool = False

    def message(self) -> str:
        """The one-line outcome, ``Verified: sha256 <hex> of <uri> (...) -> <target>`` or ``Fetched: ...``
        (same shape, not verified); see the README."""
        what = {"file": "file", "archive": "archive", "tree": f"tree digest, {self.files} files"}[
            self.digest_of
        ]
        if len(self.paths) == 1:
            target = str(self.paths[0])
        else:
            target = f"{self.paths[0].parent} ({len(self.paths)} entries)"
        if self.in_place:
            target += ", served in place"
        if self.verified:
            return f"{REASON_VERIFIED}: sha256 {self.sha256} of {self.uri} ({what}, {self.size} bytes) -> {target}"
        return (
            f"{REASON_FETCHED}: sha256 {self.sha256} of {self.uri} ({what}, {self.size} bytes; "
            f"not verified: no --sha256 given) -> {target}"
        )


def normalize_sha256(digest: str) -> str:
    """Lowercase hex SHA-256 from ``digest`` (an optional ``sha256:`` prefix is accepted).

    Raises:
        FetchUsageError: not 64 hex digits.
    """
    value = digest.strip().lower().removeprefix("sha256:")
    if not _SHA256_RE.fullmatch(value):
        raise FetchUsageError(f"--sha256 must be 64 hex digits, got {digest[:80]!r}")
    return value


def fetch(
    uri: str,
    dest: Path,
    *,
    sha256: str | None = None,
    model_format: str = "onnx",
    version: str | None = None,
    timeout: float = 60.0,
    retry: RetryPolicy | None = None,
    env: Mapping[str, str] | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> FetchResult:
    """Fetch ``uri`` into directory ``dest`` (created if missing), verifying ``sha256`` if given.

    Args:
        uri: see the module doc; may carry credentials (userinfo, a presigned query), never printed.
        dest: the target directory; other entries in it are left alone, same-named ones replaced.
        sha256: expected digest (hex, any case, optional ``sha256:`` prefix), or ``None`` to skip the check.
        model_format: ``onnx`` (as is) or ``tensorflow`` (``dest/<version>/saved_model.pb``).
        version: TF Serving version directory for ``tensorflow`` (digits; default ``1``); unused for onnx.
        timeout: seconds to wait for a connection and for each read.
        retry: how transient failures are retried (default :class:`RetryPolicy()`).
        env: where credentials and endpoints are read (default ``os.environ``).
        log: receives progress and retry lines (already free of credentials except what a caller adds).

    Raises:
        FetchUsageError, SourceError, ChecksumMismatch, InvalidModel: see their docs. On any failure
            ``dest`` is left as it was.
    """
    env = os.environ if env is None else env
    policy = retry or RetryPolicy()
    expected = normalize_sha256(sha256) if sha256 is not None else None
    if model_format not in FORMATS:
        raise FetchUsageError(f"--format must be one of {', '.join(FORMATS)}, got {model_format!r}")
    if model_format == "tensorflow":
        version = version or DEFAULT_TF_VERSION
        if not _VERSION_RE.fullmatch(version):
            raise FetchUsageError(
                f"--version must be a number for --format tensorflow (TF Serving's version directories "
                f"are integers), got {version[:40]!r}"
            )
    location = parse_uri(uri, env.get(ENV_PVC_ROOT) or DEFAULT_PVC_ROOT)
    backend = _backend(location, env, timeout)
    staging = _prepare(dest)
    try:
        return _run(location, backend, dest, staging, expected, model_format, version, policy, log)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _backend(location: ModelURI, env: Mapping[str, str], timeout: float) -> Backend:
    try:
        if location.scheme in ("file", "pvc"):
            from glidepath_runtime.storage.local import LocalBackend

            return LocalBackend(location)
        if location.scheme in ("http", "https"):
            from glidepath_runtime.storage.web import WebBackend, headers_from_env

            return WebBackend(location, headers_from_env(env), timeout)
        if location.scheme == "s3":
            from glidepath_runtime.storage.s3 import S3Backend

            return S3Backend(location, env, timeout)
        from glidepath_runtime.storage.gcs import GCSBackend

        return GCSBackend(location, env, timeout)
    except StorageError as exc:
        raise SourceError(f"cannot fetch {location.display}: {exc.cause}") from exc


def _prepare(dest: Path) -> Path:
    """Create ``dest`` if needed, remove stale staging directories, return a fresh one."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for stale in dest.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dest))
    except OSError as exc:
        raise SourceError(f"cannot write to destination directory {dest}: {exc}") from exc


def _run(
    location: ModelURI,
    backend: Backend,
    dest: Path,
    staging: Path,
    expected: str | None,
    model_format: str,
    version: str | None,
    policy: RetryPolicy,
    log: Callable[[str], None],
) -> FetchResult:
    where = location.display
    try:
        listing = call_with_retry(backend.list, policy, what=f"list {where}", log=log)
    except RetriesExhausted as exc:
        raise SourceError(f"cannot fetch {where}: {exc.describe()}") from exc
    if location.scheme == "pvc" and (
        listing.tree or (model_format == "onnx" and not is_archive(listing.entries[0].path))
    ):
        return _link_in_place(location, listing, dest, staging, expected, model_format, version)
    src = staging / "src"
    src.mkdir()
    digests: dict[str, str] = {}
    size = 0
    target = src
    for entry in listing.entries:
        segments = check_relative_path(entry.path, where)
        target = src.joinpath(*segments)
        rel = "/".join(segments)
        if rel in digests:
            raise InvalidModel(f"{where}: two objects map to the same path {rel!r}")
        label = f"{where} (object {rel})" if listing.tree else where
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidModel(f"{where}: {rel!r} conflicts with another object (file vs directory)") from exc
        except OSError as exc:
            raise SinkError(f"cannot write to destination directory {dest}: {exc}") from exc
        log(f"downloading {label}" + (f" ({entry.size} bytes)" if entry.size is not None else ""))
        try:
            call_with_retry(
                functools.partial(_download, backend, entry, target), policy, what=f"GET {label}", log=log
            )
        except RetriesExhausted as exc:
            raise SourceError(f"cannot fetch {label}: {exc.describe()}") from exc
        digests[rel] = file_sha256(target)
        size += target.stat().st_size

    digest, digest_of = _check_digest(where, listing, digests, expected)
    tree = src
    if digest_of == "archive":
        tree = staging / "unpacked"
        tree.mkdir()
        unpack(target, tree, where)  # the one file downloaded
        if model_format == "onnx":
            tree = single_directory(tree)
    if model_format == "tensorflow":
        assert version is not None
        staged = staging / "out"
        staged.mkdir()
        os.replace(find_saved_model(tree, where), staged / version)
        names = [version]
    else:
        staged = tree
        names = sorted(p.name for p in tree.iterdir())
        if not names:
            raise InvalidModel(f"{where}: the archive holds no files")
    _normalize_modes(staged, names)
    backup = staging / "replaced"
    backup.mkdir()
    try:
        paths = install(staged, names, dest, backup)
    except OSError as exc:
        raise SinkError(f"cannot move the model into {dest}: {exc}") from exc
    return FetchResult(where, tuple(paths), digest, digest_of, len(digests), size, expected is not None)


def _check_digest(
    where: str, listing: Listing, digests: dict[str, str], expected: str | None
) -> tuple[str, str]:
    """(digest, what it covers) of what was read, by relative path; raises ChecksumMismatch."""
    if listing.tree:
        digest, digest_of = tree_digest(digests), "tree"
    else:
        digest = next(iter(digests.values()))
        digest_of = "archive" if is_archive(listing.entries[0].path) else "file"
    if expected is not None and digest != expected:
        raise ChecksumMismatch(where, expected, digest, tree=listing.tree, files=len(digests))
    return digest, digest_of


def _link_in_place(
    location: ModelURI,
    listing: Listing,
    dest: Path,
    staging: Path,
    expected: str | None,
    model_format: str,
    version: str | None,
) -> FetchResult:
    """Verify a ``pvc://`` file or directory where it is and link it into ``dest`` (see the module doc)."""
    where = location.display
    digests: dict[str, str] = {}
    size = 0
    for entry in listing.entries:
        rel = "/".join(check_relative_path(entry.path, where))
        try:
            digests[rel] = file_sha256(Path(entry.ref))
            size += Path(entry.ref).stat().st_size
        except OSError as exc:
            raise SourceError(
                f"cannot fetch {where}: cannot read {entry.ref}: {exc.strerror or exc}"
            ) from exc
    digest, digest_of = _check_digest(where, listing, digests, expected)
    root = Path(location.key.rstrip("/") or "/")
    if model_format == "tensorflow":
        assert version is not None
        links = {version: find_saved_model(root, where)}
    elif listing.tree:
        links = {child.name: child for child in sorted(root.iterdir())}
    else:
        links = {root.name: root}
    staged = staging / "out"
    staged.mkdir()
    for name, target in links.items():
        (staged / name).symlink_to(target, target_is_directory=target.is_dir())
    backup = staging / "replaced"
    backup.mkdir()
    try:
        paths = install(staged, list(links), dest, backup)
    except OSError as exc:
        raise SinkError(f"cannot link the model into {dest}: {exc}") from exc
    return FetchResult(
        where, tuple(paths), digest, digest_of, len(digests), size, expected is not None, in_place=True
    )


def _download(backend: Backend, entry: Entry, target: Path) -> None:
    """One download attempt of ``entry`` into ``target`` (truncated first)."""
    try:
        stream = target.open("wb")
    except OSError as exc:
        raise SinkError(f"cannot write {target}: {exc}") from exc
    with stream:
        sink = Sink(stream, str(target))
        backend.download(entry, sink)
        try:
            stream.flush()
            os.fsync(stream.fileno())
        except OSError as exc:
            raise SinkError(f"cannot write {target}: {exc}") from exc
    if entry.size is not None and sink.written != entry.size:
        raise StorageError(
            f"truncated body: got {sink.written} of {entry.size} bytes (connection closed early)",
            transient=True,
        )


def _normalize_modes(root: Path, names: list[str]) -> None:
    """Files 0644, directories 0755: readable by the runtime whatever uid it has."""
    for name in names:
        top = root / name
        paths = [top] if top.is_file() else [top, *top.rglob("*")]
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)
