"""``gs://bucket/key`` with google-cloud-storage (the ``gcs`` extra).

Configuration comes from the environment, which the operator fills from the Secret the spec names
(``envFrom: secretRef``):

- ``GOOGLE_APPLICATION_CREDENTIALS_JSON``: the credentials JSON itself (a service-account key, or any
  type ``google.auth`` loads from a dict), or
- ``GOOGLE_APPLICATION_CREDENTIALS``: the path of that JSON file (e.g. a Secret mounted as a volume);
- neither: Application Default Credentials (GKE Workload Identity, the metadata server); when none are
  found, requests go unauthenticated (public buckets).
- ``STORAGE_EMULATOR_HOST``: another endpoint (``http://host:port``), e.g. fake-gcs-server.
- ``GOOGLE_CLOUD_PROJECT``: the project, when the credentials do not name one (downloads need none).

The library's own retries are off: the fetcher's policy retries every operation, so attempts are counted
once. Downloads are checked against the object's CRC32C/MD5 by the library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from glidepath_runtime.storage.base import Entry, Listing, Sink
from glidepath_runtime.storage.errors import FetchError, FetchUsageError, StorageError
from glidepath_runtime.storage.uri import ModelURI

ENV_CREDENTIALS_JSON: Final = "GOOGLE_APPLICATION_CREDENTIALS_JSON"
ENV_CREDENTIALS_FILE: Final = "GOOGLE_APPLICATION_CREDENTIALS"
ENV_EMULATOR_HOST: Final = "STORAGE_EMULATOR_HOST"
_SCOPES: Final = ["https://www.googleapis.com/auth/devstorage.read_only"]


class GCSBackend:
    """Objects in one Google Cloud Storage bucket."""

    def __init__(self, uri: ModelURI, env: Mapping[str, str], timeout: float) -> None:
        try:
            from google.cloud import storage  # type: ignore[import-untyped]
        except ImportError as exc:
            raise FetchUsageError(
                f"{uri.display}: gs:// needs google-cloud-storage, which this image lacks "
                "(install glidepath-runtime[gcs])"
            ) from exc
        credentials, project = _credentials(env)
        options: dict[str, Any] = {}
        emulator = env.get(ENV_EMULATOR_HOST)
        if emulator:
            options["api_endpoint"] = emulator if "://" in emulator else f"http://{emulator}"
        try:
            self._client = storage.Client(
                project=project or env.get("GOOGLE_CLOUD_PROJECT") or "glidepath-fetch",
                credentials=credentials,
                client_options=options or None,
            )
        except Exception as exc:
            raise StorageError(f"cannot create a GCS client: {exc}", transient=False) from exc
        self._uri = uri
        self._bucket = self._client.bucket(uri.bucket)
        self._timeout = (timeout, timeout)

    def list(self) -> Listing:
        """See :class:`~glidepath_runtime.storage.base.Backend`. A key without a trailing ``/`` is an
        object if one exists, else the prefix ``key/``."""
        key = self._uri.key
        if self._uri.is_prefix:
            return self._list_prefix(key)
        try:
            blob = self._bucket.get_blob(key, timeout=self._timeout, retry=None)
        except Exception as exc:
            raise _classify(exc) from exc
        if blob is not None:
            return Listing((Entry(self._uri.name, key, blob.size),), tree=False)
        return self._list_prefix(key + "/", missing=f"no object {key!r} nor objects under {key + '/'!r}")

    def _list_prefix(self, prefix: str, missing: str = "") -> Listing:
        entries: list[Entry] = []
        try:
            for blob in self._client.list_blobs(
                self._bucket, prefix=prefix, timeout=self._timeout, retry=None
            ):
                name = str(blob.name)
                if not name.endswith("/"):
                    entries.append(Entry(name[len(prefix) :], name, blob.size))
        except Exception as exc:
            raise _classify(exc) from exc
        if not entries:
            raise StorageError(
                f"{missing or f'no objects under prefix {prefix!r}'} in bucket {self._uri.bucket!r}",
                transient=False,
            )
        return Listing(tuple(sorted(entries, key=lambda e: e.path)), tree=True)

    def download(self, entry: Entry, out: Sink) -> None:
        """See :class:`~glidepath_runtime.storage.base.Backend`."""
        blob = self._bucket.blob(entry.ref)
        try:
            self._client.download_blob_to_file(blob, out, timeout=self._timeout, retry=None)
        except (FetchError, StorageError):
            raise  # a SinkError: the destination, not the store, failed
        except Exception as exc:
            raise _classify(exc) from exc


def _credentials(env: Mapping[str, str]) -> tuple[Any, str | None]:
    """Credentials and project from the environment (see the module doc)."""
    import google.auth
    from google.auth import exceptions as auth_exceptions
    from google.auth.credentials import AnonymousCredentials

    raw = env.get(ENV_CREDENTIALS_JSON, "").strip()
    try:
        if raw:
            try:
                info = json.loads(raw)
            except ValueError as exc:
                raise FetchUsageError(f"${ENV_CREDENTIALS_JSON} is not valid JSON") from exc
            if not isinstance(info, dict):
                raise FetchUsageError(f"${ENV_CREDENTIALS_JSON} must be a JSON object")
            credentials, project = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
                info, scopes=_SCOPES
            )
            return credentials, project
        path = env.get(ENV_CREDENTIALS_FILE)
        if path:
            credentials, project = google.auth.load_credentials_from_file(  # type: ignore[no-untyped-call]
                path, scopes=_SCOPES
            )
            return credentials, project
        if env.get(ENV_EMULATOR_HOST):
            return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
        try:
            credentials, project = google.auth.default(scopes=_SCOPES)
        except auth_exceptions.DefaultCredentialsError:
            return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
        return credentials, project
    except auth_exceptions.GoogleAuthError as exc:
        # google-auth's messages name the file or the missing field, never a key's content.
        raise FetchUsageError(f"unusable GCS credentials: {exc}") from exc


def _classify(exc: BaseException) -> StorageError:
    """A google-cloud-storage failure as a StorageError: 5xx, 408, 429, connection failures, timeouts,
    and checksum mismatches of a download (a truncated body) are transient; 403, 404 are not."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth_exceptions
    from requests import exceptions as rx

    if isinstance(exc, api.GoogleAPICallError):
        status = int(exc.code or 0)
        transient = status >= 500 or status in (408, 429)
        reason = exc.reason or type(exc).__name__
        message = str(exc.message or "").split(": ", 1)[-1]  # drop "GET https://...: " (no secrets, noise)
        return StorageError(f"HTTP {status} {reason}: {message}".rstrip(": "), transient=transient)
    if isinstance(exc, auth_exceptions.TransportError):
        return StorageError(f"cannot reach the token endpoint: {exc}", transient=True)
    if isinstance(exc, auth_exceptions.RefreshError):
        return StorageError(f"credentials refused: {exc}", transient=False)
    if isinstance(exc, rx.Timeout):
        return StorageError(f"timed out: {type(exc).__name__}", transient=True)
    if isinstance(exc, rx.ConnectionError | rx.ChunkedEncodingError | ConnectionError | TimeoutError):
        return StorageError(f"{type(exc).__name__}: {exc}", transient=True)
    if type(exc).__name__ == "DataCorruption":
        return StorageError(f"download corrupted or truncated: {exc}", transient=True)
    return StorageError(f"{type(exc).__name__}: {exc}", transient=False)
