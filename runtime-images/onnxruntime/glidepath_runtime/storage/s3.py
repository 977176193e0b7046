"""``s3://bucket/key`` with boto3 (the ``s3`` extra), for AWS S3 and S3-compatible stores.

Configuration comes from the environment, which the operator fills from the Secret the spec names
(``envFrom: secretRef``); nothing is ever read from the URI or the command line:

- ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``): static credentials. Without
  them boto3's default chain applies (IRSA web identity, ``AWS_PROFILE``, instance metadata); when that
  finds nothing either, requests go unsigned (public buckets).
- ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (default ``us-east-1``).
- ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``: an S3-compatible endpoint (MinIO, Ceph, R2...);
  ``AWS_CA_BUNDLE`` for its CA.
- ``GLIDEPATH_S3_ADDRESSING_STYLE``: ``path``, ``virtual`` or ``auto``; default ``path`` with a custom
  endpoint (what most S3-compatible stores want), ``auto`` without.

boto3's own retries are off: the fetcher's policy retries every operation, so attempts are counted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from glidepath_runtime.storage.base import CHUNK, Entry, Listing, Sink
from glidepath_runtime.storage.errors import FetchError, FetchUsageError, StorageError
from glidepath_runtime.storage.uri import ModelURI

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENV_ADDRESSING_STYLE: Final = "GLIDEPATH_S3_ADDRESSING_STYLE"
_TRANSIENT_CODES: Final = frozenset(
    {"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "InternalError", "ServiceUnavailable"}
)


class S3Backend:
    """Objects in one S3 bucket."""

    def __init__(self, uri: ModelURI, env: Mapping[str, str], timeout: float) -> None:
        try:
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config
        except ImportError as exc:
            raise FetchUsageError(
                f"{uri.display}: s3:// needs boto3, which this image lacks (install glidepath-runtime[s3])"
            ) from exc
        key_id = env.get("AWS_ACCESS_KEY_ID") or None
        secret = env.get("AWS_SECRET_ACCESS_KEY") or None
        if (key_id is None) != (secret is None):
            raise FetchUsageError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        style = env.get(ENV_ADDRESSING_STYLE) or ("path" if endpoint else "auto")
        if style not in ("path", "virtual", "auto"):
            raise FetchUsageError(f"${ENV_ADDRESSING_STYLE} must be path, virtual or auto, got {style!r}")
        try:
            session = boto3.session.Session(
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
                region_name=region,
            )
            options: dict[str, Any] = {
                "connect_timeout": timeout,
                "read_timeout": timeout,
                "retries": {"mode": "standard", "total_max_attempts": 1},
                "s3": {"addressing_style": style},
            }
            if session.get_credentials() is None:
                options["signature_version"] = UNSIGNED
            self._client: S3Client = session.client("s3", endpoint_url=endpoint, config=Config(**options))
        except Exception as exc:  # botocore's errors here: a missing profile, a bad config file
            raise StorageError(f"cannot create an S3 client: {exc}", transient=False) from exc
        self._bucket = uri.bucket
        self._uri = uri

    def list(self) -> Listing:
        """See :class:`~glidepath_runtime.storage.base.Backend`. A key without a trailing ``/`` is an
        object if one exists, else the prefix ``key/``."""
        key = self._uri.key
        if self._uri.is_prefix:
            return self._list_prefix(key)
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            error = _classify(exc)
            if _status(exc) != 404:
                raise error from exc
        else:
            return Listing((Entry(self._uri.name, key, head["ContentLength"]),), tree=False)
        return self._list_prefix(key + "/", missing=f"no object {key!r} nor objects under {key + '/'!r}")

    def _list_prefix(self, prefix: str, missing: str = "") -> Listing:
        entries: list[Entry] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    key = item.get("Key", "")
                    if key.endswith("/"):
                        continue  # a "directory" marker object
                    entries.append(Entry(key[len(prefix) :], key, item.get("Size")))
        except Exception as exc:
            raise _classify(exc) from exc
        if not entries:
            raise StorageError(
                f"{missing or f'no objects under prefix {prefix!r}'} in bucket {self._bucket!r}",
                transient=False,
            )
        return Listing(tuple(sorted(entries, key=lambda e: e.path)), tree=True)

    def download(self, entry: Entry, out: Sink) -> None:
        """See :class:`~glidepath_runtime.storage.base.Backend`."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=entry.ref)
            for chunk in response["Body"].iter_chunks(CHUNK):
                out.write(chunk)
        except (FetchError, StorageError):
            raise  # a SinkError: the destination, not the store, failed
        except Exception as exc:
            raise _classify(exc) from exc


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status) if isinstance(status, int) else 0
    return 0


def _classify(exc: BaseException) -> StorageError:
    """A botocore failure as a StorageError: 5xx, 408, 429, throttling, connection failures, timeouts and
    truncated streams are transient; 403, 404 and other client errors are not."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        status = _status(exc)
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or str(status)
        message = str(error.get("Message", ""))
        transient = status >= 500 or status in (408, 429) or code in _TRANSIENT_CODES
        text = f"HTTP {status} {code}" + (f": {message}" if message and message != code else "")
        return StorageError(text, transient=transient)
    if isinstance(exc, bx.SSLError | bx.NoCredentialsError | bx.PartialCredentialsError):
        return StorageError(str(exc), transient=False)
    if isinstance(exc, bx.ReadTimeoutError | bx.ConnectTimeoutError):
        return StorageError(f"timed out: {exc}", transient=True)
    if isinstance(exc, bx.HTTPClientError | bx.IncompleteReadError | bx.ResponseStreamingError):
        return StorageError(f"{type(exc).__name__}: {exc}", transient=True)
    if isinstance(exc, ConnectionError | TimeoutError):
        return StorageError(f"{type(exc).__name__}: {exc}", transient=True)
    return StorageError(f"{type(exc).__name__}: {exc}", transient=False)
