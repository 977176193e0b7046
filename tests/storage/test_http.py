"""``glidepath-runtime fetch`` of http:// URIs against a real HTTP server on 127.0.0.1, through a fault
proxy: headers from the environment, redaction, retries with backoff, and every failure's contract."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.storage.conftest import FAST_RETRY, HTTPServer, assert_failed, fetch_cli
from tests.storage.samples import sha256, tar_gz
from tests.storage.servers import Fault, FaultProxy, clean_env

PAYLOAD = b"pretend this is an ONNX model\n" * 2000
DIGEST = sha256(PAYLOAD)
TOKEN = "Bearer tok-9f8e7d6c5b4a"


def test_headers_from_env_are_sent_and_never_shown(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("h/model.onnx", PAYLOAD)
    headers = json.dumps({"Authorization": TOKEN, "X-Api-Key": "key-0123456789"})
    result = fetch_cli(
        tmp_path, uri, str(tmp_path / "dest"), "--sha256", DIGEST, env={"GLIDEPATH_HTTP_HEADERS": headers}
    )
    assert result.returncode == 0, result.all_output()
    assert result.termination.startswith(
        f"Verified: sha256 {DIGEST} of {uri} (file, {len(PAYLOAD)} bytes) -> "
    )
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == PAYLOAD
    [seen] = http.proxy.seen("/h/model.onnx")
    assert seen.headers["authorization"] == TOKEN
    assert seen.headers["x-api-key"] == "key-0123456789"
    assert "tok-9f8e7d6c5b4a" not in result.all_output()


def test_headers_follow_same_origin_redirects_only(http: HTTPServer, tmp_path: Path) -> None:
    http.put("r/model.onnx", PAYLOAD)
    other = FaultProxy(http.base)  # the same files on another port: another origin
    try:
        http.proxy.add(Fault("status", match="/r/moved.onnx", status=302, location="/r/model.onnx"))
        http.proxy.add(
            Fault("status", match="/r/away.onnx", status=302, location=f"{other.url}/r/model.onnx")
        )
        env = {"GLIDEPATH_HTTP_HEADERS": json.dumps({"Authorization": TOKEN})}
        same = fetch_cli(tmp_path, http.url("r/moved.onnx"), str(tmp_path / "a"), env=env)
        away = fetch_cli(tmp_path, http.url("r/away.onnx"), str(tmp_path / "b"), env=env)
        assert same.returncode == 0, same.all_output()
        assert away.returncode == 0, away.all_output()
        # Saved under the URI's name, whatever the redirect target is called.
        assert (tmp_path / "a" / "moved.onnx").read_bytes() == PAYLOAD
        assert [s.headers.get("authorization") for s in http.proxy.seen("/r/model.onnx")] == [TOKEN]
        assert [s.headers.get("authorization") for s in other.seen("/r/model.onnx")] == [None]
    finally:
        other.close()


def test_userinfo_becomes_basic_auth_and_is_redacted(http: HTTPServer, tmp_path: Path) -> None:
    http.put("u/model.onnx", PAYLOAD)
    host = http.proxy.url.removeprefix("http://")
    uri = f"http://alice:pa55-w0rd-xyz@{host}/u/model.onnx?X-Amz-Signature=sig-abcdef0123&v=1"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"))
    assert result.returncode == 0, result.all_output()
    shown = f"http://REDACTED@{host}/u/model.onnx?X-Amz-Signature=REDACTED&v=REDACTED"
    assert result.termination.startswith(f"Fetched: sha256 {DIGEST} of {shown} (file, ")
    assert "not verified: no --sha256 given" in result.termination
    [seen] = http.proxy.seen("/u/model.onnx")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"alice:pa55-w0rd-xyz").decode()
    for secret in ("pa55-w0rd-xyz", "sig-abcdef0123"):
        assert secret not in result.all_output()


def test_5xx_is_retried_with_exponential_backoff(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("flaky/model.onnx", PAYLOAD)
    http.proxy.add(Fault("status", match="/flaky/", status=503, times=2))
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), "--attempts", "3", "--backoff", "0.3")
    assert result.returncode == 0, result.all_output()
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == PAYLOAD
    times = [s.at for s in http.proxy.seen("/flaky/")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3
    assert times[2] - times[1] >= 0.6
    assert f"GET {uri}: attempt 1/3 failed: HTTP 503" in result.stderr
    assert f"GET {uri}: attempt 2/3 failed: HTTP 503" in result.stderr


def test_persistent_5xx_gives_up_after_the_attempts(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("down/model.onnx", PAYLOAD)
    http.proxy.add(Fault("status", match="/down/", status=502, times=10))
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), *FAST_RETRY)
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["HTTP 502", "gave up after 4 attempts"],
        dest=tmp_path / "dest",
    )
    assert len(http.proxy.seen("/down/")) == 4


@pytest.mark.parametrize("status", [403, 404, 401])
def test_client_errors_are_not_retried(http: HTTPServer, tmp_path: Path, status: int) -> None:
    uri = http.put(f"c{status}/model.onnx", PAYLOAD)
    if status == 404:
        uri = http.url(f"c{status}/missing.onnx")
    else:
        http.proxy.add(Fault("status", match=f"/c{status}/", status=status, times=5))
    result = fetch_cli(
        tmp_path,
        uri,
        str(tmp_path / "dest"),
        *FAST_RETRY,
        env={"GLIDEPATH_HTTP_HEADERS": json.dumps({"Authorization": TOKEN})},
    )
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=[f"HTTP {status}", "(not retried)"],
        dest=tmp_path / "dest",
        secrets=["tok-9f8e7d6c5b4a"],
    )
    assert len(http.proxy.seen(f"/c{status}/")) == 1


def test_timeouts_are_retried_then_fail(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("slow/model.onnx", PAYLOAD)
    http.proxy.add(Fault("stall", match="/slow/", seconds=1.5, times=2))
    result = fetch_cli(
        tmp_path, uri, str(tmp_path / "dest"), "--timeout", "0.3", "--attempts", "2", "--backoff", "0.1"
    )
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["timed out", "gave up after 2 attempts"],
        dest=tmp_path / "dest",
    )
    assert len(http.proxy.seen("/slow/")) == 2


def test_a_timeout_then_success(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("slow-once/model.onnx", PAYLOAD)
    http.proxy.add(Fault("stall", match="/slow-once/", seconds=1.0))
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), "--timeout", "0.3", "--backoff", "0.05")
    assert result.returncode == 0, result.all_output()
    assert "timed out" in result.stderr


def test_connection_reset_is_retried(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("reset/model.onnx", PAYLOAD)
    http.proxy.add(Fault("reset", match="/reset/"))
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), *FAST_RETRY, "--sha256", DIGEST)
    assert result.returncode == 0, result.all_output()
    assert len(http.proxy.seen("/reset/")) == 2
    assert "attempt 1/4 failed" in result.stderr


def test_truncated_body_fails_after_retries(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("cut/model.onnx", PAYLOAD)
    http.proxy.add(Fault("truncate", match="/cut/", times=10))
    dest = tmp_path / "dest"
    result = fetch_cli(tmp_path, uri, str(dest), "--attempts", "2", "--backoff", "0.05")
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=[
            f"truncated body: got {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes",
            "gave up after 2 attempts",
        ],
        dest=dest,
    )


def test_connection_refused_is_retried_then_fails(tmp_path: Path) -> None:
    uri = "http://127.0.0.1:9/model.onnx"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), "--attempts", "2", "--backoff", "0.05")
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["Connection refused", "gave up after 2 attempts"],
        dest=tmp_path / "dest",
    )


def test_archive_with_dotdot_entries_is_refused(http: HTTPServer, tmp_path: Path) -> None:
    archive = tar_gz({"model/model.onnx": PAYLOAD, "../escaped.txt": b"gotcha"})
    uri = http.put("evil/model.tar.gz", archive)
    dest = tmp_path / "work" / "dest"
    result = fetch_cli(tmp_path, uri, str(dest), "--sha256", sha256(archive))
    assert_failed(
        result,
        exit_code=6,
        reason="InvalidModel",
        uri=uri,
        causes=["'../escaped.txt'", "'..' would escape the destination"],
        dest=dest,
    )
    assert not (tmp_path / "work" / "escaped.txt").exists()


def test_tar_gz_is_unpacked_after_its_digest_is_checked(http: HTTPServer, tmp_path: Path) -> None:
    archive = tar_gz({"model/model.onnx": PAYLOAD, "model/labels.txt": b"a\nb\n"})
    uri = http.put("good/model.tar.gz", archive)
    dest = tmp_path / "dest"
    result = fetch_cli(tmp_path, uri, str(dest), "--sha256", sha256(archive))
    assert result.returncode == 0, result.all_output()
    assert f"(archive, {len(archive)} bytes) -> {dest} (2 entries)" in result.termination
    assert sorted(p.name for p in dest.iterdir()) == ["labels.txt", "model.onnx"]  # one top dir: stripped
    assert (dest / "model.onnx").stat().st_mode & 0o777 == 0o644


def test_sigterm_leaves_no_staging_directory(http: HTTPServer, tmp_path: Path) -> None:
    uri = http.put("term/model.onnx", PAYLOAD)
    http.proxy.add(Fault("stall", match="/term/", seconds=5))
    dest = tmp_path / "dest"
    process = subprocess.Popen(
        [sys.executable, "-m", "glidepath_runtime.cli", "fetch", uri, str(dest)],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not http.proxy.seen("/term/") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(p.name.startswith(".glidepath-fetch-") for p in dest.iterdir())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        process.kill()
        process.wait()
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("not json", "must be a JSON object"),
        ('["a"]', "must be a JSON object"),
        ('{"Bad Name": "x"}', "is not a valid header name"),
        ('{"X-Token": "line\\nbreak-secret"}', "must be a string without line breaks"),
    ],
)
def test_malformed_header_env_is_a_usage_error(tmp_path: Path, headers: str, message: str) -> None:
    result = fetch_cli(
        tmp_path,
        "http://127.0.0.1:9/model.onnx",
        str(tmp_path / "dest"),
        env={"GLIDEPATH_HTTP_HEADERS": headers},
    )
    assert result.returncode == 2
    assert result.reason == "InvalidArgument"
    assert message in result.termination
    assert "break-secret" not in result.all_output()
