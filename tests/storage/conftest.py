"""Fixtures: real storage servers on 127.0.0.1 (moto's S3 with IAM auth enforced, fake-gcs-server, a
static HTTP server), each behind a :class:`FaultProxy`, plus helpers to run ``glidepath-runtime fetch``
and check a failure's contract (exit code, reason, URI and cause named, nothing left, no secret shown)."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.storage.servers import FaultProxy, clean_env, start_fake_gcs, start_moto
from tests.support.fileserver import serve_directory

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "models"
#: Fast retries for tests: 4 attempts, 0.1 s then 0.2 s then 0.4 s.
FAST_RETRY = ("--attempts", "4", "--backoff", "0.1", "--timeout", "5")
#: Retries against a stalling server: a 0.3 s read timeout, 3 attempts, backoff 0.2 s then 0.4 s.
STALL_RETRY = ("--timeout", "0.3", "--attempts", "3", "--backoff", "0.2")


@dataclass(frozen=True)
class Fetched:
    """A finished ``glidepath-runtime fetch`` process."""

    returncode: int
    stdout: str
    stderr: str
    termination: str

    @property
    def reason(self) -> str:
        """The termination message's first token, without its colon."""
        return self.termination.split(":", 1)[0]

    def all_output(self) -> str:
        """stdout, stderr and the termination message together."""
        return "\n".join((self.stdout, self.stderr, self.termination))


def fetch_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Fetched:
    """Run ``glidepath-runtime fetch ARGS`` with a clean storage environment plus ``env``; the
    termination log goes to ``tmp_path/termination-log``."""
    log = tmp_path / "termination-log"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "glidepath_runtime.cli", "fetch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(GLIDEPATH_TERMINATION_LOG=str(log), **(env or {})),
        check=False,
    )
    termination = log.read_text() if log.exists() else ""
    return Fetched(done.returncode, done.stdout, done.stderr, termination)


def assert_failed(
    result: Fetched,
    *,
    exit_code: int,
    reason: str,
    uri: str,
    causes: Iterable[str],
    dest: Path,
    secrets: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> None:
    """The failure contract: exit code, ``<reason>: ...`` termination message naming ``uri`` and every
    cause (on stderr too), DEST holding nothing but ``keep``, and no secret anywhere in the output."""
    assert result.returncode == exit_code, result.all_output()
    assert result.reason == reason, result.termination
    assert uri in result.termination, result.termination
    assert f"glidepath-runtime fetch: {result.termination.strip()}" in result.stderr
    for cause in causes:
        assert cause in result.termination, result.termination
    left = sorted(p.name for p in dest.iterdir()) if dest.exists() else []
    assert left == sorted(keep), f"DEST holds {left}"
    output = result.all_output()
    for secret in secrets:
        assert secret not in output, f"secret {secret[:4]}... shown"


# ---------------------------------------------------------------- S3 (moto, IAM auth enforced)


@dataclass(frozen=True)
class S3Server:
    """moto's S3 with IAM auth: ``admin`` may do anything, ``reader`` may only read ``allowed/``."""

    endpoint: str
    proxy: FaultProxy
    admin: tuple[str, str]
    reader: tuple[str, str]
    client: S3Client

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``s3://models/<key>`` (directly, not through the proxy)."""
        self.client.put_object(Bucket=BUCKET, Key=key, Body=data)

    def env(self, user: str = "admin", *, secret: str | None = None, **extra: str) -> dict[str, str]:
        """The fetcher's environment: ``user``'s keys (``secret`` overrides the secret key), the region,
        and the proxy as endpoint."""
        key_id, key_secret = self.admin if user == "admin" else self.reader
        return {
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret if secret is not None else key_secret,
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": self.proxy.url,
            **extra,
        }


def _policy(actions: list[str], resources: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}],
        }
    )


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto server (S3 + IAM) with bucket ``models``, two users, and auth enforced from then on."""
    import boto3

    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with start_moto(log) as endpoint:
        iam = boto3.client(  # auth is not enforced yet: any key will do
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup-secret",
        )
        keys: dict[str, tuple[str, str]] = {}
        for user, policy in (
            ("admin", _policy(["*"], ["*"])),
            (
                "reader",
                _policy(
                    ["s3:GetObject", "s3:ListBucket"],
                    [f"arn:aws:s3:::{BUCKET}/allowed/*", f"arn:aws:s3:::{BUCKET}"],
                ),
            ),
        ):
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="access", PolicyDocument=policy)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(request, timeout=10).read()  # every request from now on is authenticated
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id=keys["admin"][0],
            aws_secret_access_key=keys["admin"][1],
        )
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        proxy = FaultProxy(endpoint)
        try:
            yield S3Server(endpoint, proxy, keys["admin"], keys["reader"], client)
        finally:
            proxy.close()


@pytest.fixture
def s3_proxy(s3: S3Server) -> Iterator[FaultProxy]:
    """The S3 fault proxy, reset before and after the test."""
    s3.proxy.reset()
    yield s3.proxy
    s3.proxy.reset()


# ---------------------------------------------------------------- GCS (fake-gcs-server)


@dataclass(frozen=True)
class GCSServer:
    """fake-gcs-server with bucket ``models``."""

    endpoint: str
    proxy: FaultProxy
    client: Any  # google.cloud.storage.Client (untyped)

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` at ``gs://models/<name>`` (directly, not through the proxy)."""
        self.client.bucket(BUCKET).blob(name).upload_from_string(data)

    def env(self, **extra: str) -> dict[str, str]:
        """The fetcher's environment: the proxy as emulator endpoint."""
        return {"STORAGE_EMULATOR_HOST": self.proxy.url, **extra}


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """A fake-gcs-server (built from its Go module and cached on first use) with bucket ``models``."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[import-untyped]

    root = tmp_path_factory.mktemp("fake-gcs")
    (root / "data" / BUCKET).mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        try:
            endpoint = stack.enter_context(start_fake_gcs(root / "data", root / "fake-gcs.log"))
        except (RuntimeError, OSError) as exc:
            pytest.fail(f"fake-gcs-server unavailable (needs Go to build it): {exc}")
        client = storage.Client(
            project="test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
        proxy = FaultProxy(endpoint)
        stack.callback(proxy.close)
        yield GCSServer(endpoint, proxy, client)


@pytest.fixture
def gcs_proxy(gcs: GCSServer) -> Iterator[FaultProxy]:
    """The GCS fault proxy, reset before and after the test."""
    gcs.proxy.reset()
    yield gcs.proxy
    gcs.proxy.reset()


# ---------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class HTTPServer:
    """A static file server for ``root`` at ``base``, behind ``proxy``; ``url(path)`` goes through the proxy."""

    root: Path
    proxy: FaultProxy
    base: str

    def put(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; returns its URL through the proxy."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return self.url(path)

    def url(self, path: str) -> str:
        """``path``'s URL through the proxy."""
        return f"{self.proxy.url}/{path}"


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HTTPServer]:
    """A static HTTP server on 127.0.0.1 behind a fault proxy."""
    root = tmp_path_factory.mktemp("http-root")
    with serve_directory(root) as base:
        proxy = FaultProxy(base)
        try:
            yield HTTPServer(root, proxy, base)
        finally:
            proxy.close()


@pytest.fixture
def http(http_server: HTTPServer) -> Iterator[HTTPServer]:
    """The HTTP server with its proxy reset before and after the test."""
    http_server.proxy.reset()
    yield http_server
    http_server.proxy.reset()


def assert_timeouts_backed_off(stderr: str, times: list[float], what: str = "") -> None:
    """Under :data:`STALL_RETRY`: 3 requests at ``times`` (seconds, as the proxy saw them), and two
    logged retries of ``what`` (e.g. ``(object model.onnx)``) after a timeout, each with its backoff
    (0.2 s then 0.4 s, times a jitter in [1, 1.25)) and coming after the read timeout plus that backoff."""
    assert len(times) == 3
    pattern = re.escape(what) + r".*attempt [12]/3 failed: timed out.*; retrying in ([0-9.]+)s"
    delays = [float(d) for d in re.findall(pattern, stderr)]
    assert len(delays) == 2, stderr
    assert 0.2 <= delays[0] <= 0.25
    assert 0.4 <= delays[1] <= 0.5
    assert times[1] - times[0] >= 0.25 + 0.2
    assert times[2] - times[1] >= 0.25 + 0.4
