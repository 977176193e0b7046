"""Model URIs: parsing, the schemes the fetcher understands, and redaction for messages.

``s3://bucket/key`` and ``gs://bucket/key`` are taken literally after the bucket (no percent-decoding, as
the AWS and gcloud CLIs do); ``http(s)://`` and ``file://`` are URLs (percent-decoded paths);
``pvc://claim/path`` names a path inside a PersistentVolumeClaim that the operator mounts read-only at
``$GLIDEPATH_PVC_ROOT/<claim>`` (default ``/mnt/pvc/<claim>``).

A key or path that ends in ``/`` is a directory prefix. Without the slash, ``s3``/``gs`` fall back to the
prefix ``key/`` when no object ``key`` exists, and ``file``/``pvc`` look at what the path is.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from glidepath_runtime.storage.errors import FetchUsageError

#: URI schemes the fetcher understands.
SCHEMES: Final = ("http", "https", "s3", "gs", "file", "pvc")
#: Where the operator mounts ``pvc://<claim>/...`` claims (read-only) unless ``$GLIDEPATH_PVC_ROOT`` says.
DEFAULT_PVC_ROOT: Final = "/mnt/pvc"
ENV_PVC_ROOT: Final = "GLIDEPATH_PVC_ROOT"

_REDACTED: Final = "REDACTED"
_DNS1123_SUBDOMAIN: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_BUCKET: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,220}[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class ModelURI:
    """A parsed model URI.

    Attributes:
        raw: the URI as given (may hold credentials: never print it, print ``display``).
        display: the URI with userinfo and query values replaced by ``REDACTED`` and no fragment.
        scheme: lowercase scheme, one of :data:`SCHEMES`.
        bucket: the bucket (``s3``, ``gs``) or claim (``pvc``); ``""`` otherwise.
        key: the object key or prefix (``s3``, ``gs``; no leading ``/``), the local path (``file``,
            ``pvc``: resolved under the claim's mount), or the URL path (``http``, ``https``).
    """

    raw: str
    display: str
    scheme: str
    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        """Whether the URI names a directory prefix explicitly (empty key or trailing ``/``)."""
        return self.key == "" or self.key.endswith("/")

    @property
    def name(self) -> str:
        """The last segment of the key (``""`` for a prefix)."""
        return posixpath.basename(self.key)


def redact_uri(uri: str) -> str:
    """``uri`` safe to print: userinfo (``user:password@``) becomes ``REDACTED@``, every query value
    becomes ``REDACTED`` (names stay, to help debugging presigned URLs), the fragment is dropped."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return re.sub(r"//[^/@]*@", f"//{_REDACTED}@", uri.split("?", 1)[0])
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{_REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{item.split('=', 1)[0]}={_REDACTED}" if "=" in item else _REDACTED
        for item in parts.query.split("&")
        if item
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def uri_secrets(uri: str) -> list[str]:
    """The credential-like parts of ``uri`` (userinfo password, query values) for a scrubber."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return []
    found = [parts.password or "", parts.username or ""] if "@" in parts.netloc else []
    found += [value for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    found += [item.split("=", 1)[-1] for item in parts.query.split("&")]
    return [s for s in found if s]


def parse_uri(uri: str, pvc_root: str = DEFAULT_PVC_ROOT) -> ModelURI:
    """Parse ``uri``.

    Raises:
        FetchUsageError: unsupported scheme, missing bucket/claim, a ``file`` URI naming another host,
            a ``..`` segment in a ``pvc`` path, an ``http(s)`` URI without a file name.
    """
    display = redact_uri(uri)
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme not in SCHEMES:
        raise FetchUsageError(
            f"unsupported scheme {scheme or '(none)'!r} in {display}; supported: {', '.join(SCHEMES)}"
        )
    if scheme in ("s3", "gs"):
        bucket, _, key = rest.partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise FetchUsageError(f"URI {display} has no valid bucket name ({scheme}://BUCKET/KEY)")
        return ModelURI(uri, display, scheme, bucket, key)
    if scheme == "pvc":
        claim, _, path = rest.partition("/")
        if not _DNS1123_SUBDOMAIN.fullmatch(claim):
            raise FetchUsageError(f"URI {display} has no valid claim name (pvc://CLAIM/PATH)")
        segments = [s for s in path.split("/") if s not in ("", ".")]
        if ".." in segments:
            raise FetchUsageError(f"URI {display} has a '..' segment; paths must stay inside the claim")
        local = str(Path(pvc_root, claim, *segments)) + ("/" if path.endswith("/") or not segments else "")
        return ModelURI(uri, display, scheme, claim, local)
    parts = urllib.parse.urlsplit(uri)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchUsageError(
                f"file URI {display} names host {parts.netloc!r}; only local files are supported"
            )
        path = urllib.request.url2pathname(urllib.parse.unquote(parts.path))
        if not path.startswith("/"):
            raise FetchUsageError(f"file URI {display} must hold an absolute path (file:///PATH)")
        return ModelURI(uri, display, scheme, "", path)
    name = posixpath.basename(urllib.parse.unquote(parts.path))
    if name in ("", ".", ".."):
        raise FetchUsageError(
            f"URI {display} has no file name in its path (http(s) URIs must name one file or archive)"
        )
    if not parts.hostname:
        raise FetchUsageError(f"URI {display} has no host")
    return ModelURI(uri, display, scheme, "", parts.path)
