"""``glidepath-runtime fetch`` of gs:// URIs against fake-gcs-server on 127.0.0.1 (built from its Go
module), through a fault proxy; service-account credentials from the environment against a local token
endpoint."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.runtime.harness import HOST
from tests.storage.conftest import (
    BUCKET,
    FAST_RETRY,
    STALL_RETRY,
    GCSServer,
    assert_failed,
    assert_timeouts_backed_off,
    fetch_cli,
)
from tests.storage.samples import TREE, sha256, shell_tree_digest, tar_gz, write_tree, zip_bytes
from tests.storage.servers import Fault, FaultProxy

PAYLOAD = b"gcs model bytes \x00\x01" * 3000
DIGEST = sha256(PAYLOAD)
ACCESS_TOKEN = "ya29.local-access-token-4242"


def test_single_object(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    gcs.put("fraud/3/model.onnx", PAYLOAD)
    uri = f"gs://{BUCKET}/fraud/3/model.onnx"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), "--sha256", DIGEST, env=gcs.env())
    assert result.returncode == 0, result.all_output()
    assert result.termination.startswith(
        f"Verified: sha256 {DIGEST} of {uri} (file, {len(PAYLOAD)} bytes) -> "
    )
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == PAYLOAD


def test_directory_prefix_with_tree_digest(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    for rel, data in TREE.items():
        gcs.put(f"tree/{rel}", data)
    gcs.put("tree-other/x.bin", b"not in the prefix")
    expected = shell_tree_digest(write_tree(tmp_path / "reference", TREE))
    dest = tmp_path / "dest"
    for uri in (f"gs://{BUCKET}/tree/", f"gs://{BUCKET}/tree"):
        result = fetch_cli(tmp_path, uri, str(dest), "--sha256", expected, env=gcs.env())
        assert result.returncode == 0, result.all_output()
        assert shell_tree_digest(dest) == expected


def test_zip_archive(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    archive = zip_bytes({"bundle/model.onnx": PAYLOAD})
    gcs.put("zipped/model.zip", archive)
    dest = tmp_path / "dest"
    result = fetch_cli(
        tmp_path, f"gs://{BUCKET}/zipped/model.zip", str(dest), "--sha256", sha256(archive), env=gcs.env()
    )
    assert result.returncode == 0, result.all_output()
    assert (dest / "model.onnx").read_bytes() == PAYLOAD


def test_missing_object_is_not_retried(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    uri = f"gs://{BUCKET}/absent/model.onnx"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), *FAST_RETRY, env=gcs.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["no object 'absent/model.onnx' nor objects under 'absent/model.onnx/'", "(not retried)"],
        dest=tmp_path / "dest",
    )


def test_forbidden_is_not_retried(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    gcs.put("forbidden/model.onnx", PAYLOAD)
    gcs_proxy.add(Fault("status", match="forbidden", status=403, times=5))
    uri = f"gs://{BUCKET}/forbidden/model.onnx"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), *FAST_RETRY, env=gcs.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["HTTP 403", "(not retried)"],
        dest=tmp_path / "dest",
    )
    assert len(gcs_proxy.seen("forbidden")) == 1


def test_5xx_and_truncation_are_retried(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    gcs.put("flaky/model.onnx", PAYLOAD)
    gcs_proxy.add(Fault("status", match="flaky", status=503))  # the metadata GET
    gcs_proxy.add(Fault("truncate", match="alt=media"))  # the first download
    gcs_proxy.add(Fault("status", match="alt=media", status=500))  # the second
    result = fetch_cli(
        tmp_path,
        f"gs://{BUCKET}/flaky/model.onnx",
        str(tmp_path / "dest"),
        *FAST_RETRY,
        "--sha256",
        DIGEST,
        env=gcs.env(),
    )
    assert result.returncode == 0, result.all_output()
    assert len(gcs_proxy.seen("flaky")) == 5
    assert "HTTP 503" in result.stderr
    assert "HTTP 500" in result.stderr


def test_persistent_5xx_gives_up(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    gcs.put("down/model.onnx", PAYLOAD)
    gcs_proxy.add(Fault("status", match="alt=media", status=503, times=10))
    uri = f"gs://{BUCKET}/down/model.onnx"
    result = fetch_cli(
        tmp_path, uri, str(tmp_path / "dest"), "--attempts", "2", "--backoff", "0.05", env=gcs.env()
    )
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["HTTP 503", "gave up after 2 attempts"],
        dest=tmp_path / "dest",
    )


def test_timeouts_are_retried_with_backoff_then_fail(
    gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path
) -> None:
    gcs.put("slow/model.onnx", PAYLOAD)
    gcs_proxy.add(Fault("stall", match="alt=media", seconds=1.5, times=3))  # every download
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model.onnx").write_bytes(b"the model being replaced")
    uri = f"gs://{BUCKET}/slow/model.onnx"
    result = fetch_cli(tmp_path, uri, str(dest), *STALL_RETRY, "--sha256", DIGEST, env=gcs.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["timed out", "gave up after 3 attempts"],
        dest=dest,
        keep=["model.onnx"],
    )
    assert (dest / "model.onnx").read_bytes() == b"the model being replaced"
    assert_timeouts_backed_off(result.stderr, [s.at for s in gcs_proxy.seen("alt=media")])


def test_checksum_mismatch_leaves_nothing(gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path) -> None:
    gcs.put("mismatch/model.onnx", PAYLOAD)
    uri = f"gs://{BUCKET}/mismatch/model.onnx"
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model.onnx").write_bytes(b"the model being replaced")
    wrong = sha256(b"some other model")
    result = fetch_cli(tmp_path, uri, str(dest), *FAST_RETRY, "--sha256", wrong, env=gcs.env())
    assert_failed(
        result,
        exit_code=4,
        reason="ChecksumMismatch",
        uri=uri,
        causes=[f"expected {wrong}, got {DIGEST}"],
        dest=dest,
        keep=["model.onnx"],
    )
    assert (dest / "model.onnx").read_bytes() == b"the model being replaced"
    assert len(gcs_proxy.seen("alt=media")) == 1  # a mismatch is not retried


@pytest.mark.parametrize(
    ("name", "archive"),
    [
        ("model.tar.gz", tar_gz({"model/model.onnx": PAYLOAD, "../escaped.txt": b"gotcha"})),
        ("model.zip", zip_bytes({"model/model.onnx": PAYLOAD, "../escaped.txt": b"gotcha"})),
    ],
    ids=["tar.gz", "zip"],
)
def test_archive_with_dotdot_entries_is_refused(
    gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path, name: str, archive: bytes
) -> None:
    gcs.put(f"evil/{name}", archive)
    uri = f"gs://{BUCKET}/evil/{name}"
    dest = tmp_path / "work" / "dest"
    result = fetch_cli(tmp_path, uri, str(dest), "--sha256", sha256(archive), env=gcs.env())
    assert_failed(
        result,
        exit_code=6,
        reason="InvalidModel",
        uri=uri,
        causes=["'../escaped.txt'", "'..' would escape the destination"],
        dest=dest,
    )
    assert not (tmp_path / "work" / "escaped.txt").exists()


class _TokenHandler(BaseHTTPRequestHandler):
    """An OAuth2 token endpoint that grants ``ACCESS_TOKEN`` to any JWT-bearer assertion."""

    def __init__(self, requests: list[str], *args: Any, **kwargs: Any) -> None:
        self.requests = requests
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.requests.append(body)
        payload = json.dumps(
            {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, list[str]]]:
    """A local OAuth2 token endpoint; yields its URL and the request bodies it received."""
    requests: list[str] = []
    server = ThreadingHTTPServer((HOST, 0), functools.partial(_TokenHandler, requests))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/token", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_service_account_json_from_env(
    gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path, token_endpoint: tuple[str, list[str]]
) -> None:
    token_uri, token_requests = token_endpoint
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "glidepath-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": "fetcher@glidepath-test.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "token_uri": token_uri,
    }
    gcs.put("private/model.onnx", PAYLOAD)
    env = gcs.env(GOOGLE_APPLICATION_CREDENTIALS_JSON=json.dumps(info))
    result = fetch_cli(tmp_path, f"gs://{BUCKET}/private/model.onnx", str(tmp_path / "dest"), env=env)
    assert result.returncode == 0, result.all_output()
    assert token_requests
    assert "grant_type=urn" in token_requests[0]
    assert {s.headers.get("authorization") for s in gcs_proxy.seen("private")} == {f"Bearer {ACCESS_TOKEN}"}
    output = result.all_output()
    assert ACCESS_TOKEN not in output
    assert all(line not in output for line in pem.splitlines()[1:-1])


def test_malformed_credentials_json_is_a_usage_error_without_echo(tmp_path: Path) -> None:
    secret = '{"type": "service_account", "private_key": "-----BEGIN secret-material-xyz'
    result = fetch_cli(
        tmp_path,
        f"gs://{BUCKET}/x/model.onnx",
        str(tmp_path / "dest"),
        env={"GOOGLE_APPLICATION_CREDENTIALS_JSON": secret},
    )
    assert result.returncode == 2
    assert result.termination.startswith(
        "InvalidArgument: $GOOGLE_APPLICATION_CREDENTIALS_JSON is not valid JSON"
    )
    assert "secret-material-xyz" not in result.all_output()
