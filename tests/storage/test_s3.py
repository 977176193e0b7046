"""``glidepath-runtime fetch`` of s3:// URIs against moto's S3 server on 127.0.0.1 with IAM auth
enforced (credentials only from the environment), through a fault proxy for 5xx and truncation."""

from __future__ import annotations

from pathlib import Path

from tests.storage.conftest import (
    BUCKET,
    FAST_RETRY,
    STALL_RETRY,
    S3Server,
    assert_failed,
    assert_timeouts_backed_off,
    fetch_cli,
)
from tests.storage.samples import TREE, sha256, shell_tree_digest, write_tree, zip_bytes
from tests.storage.servers import Fault, FaultProxy

PAYLOAD = b"\x08\x07ONNX-ish bytes " * 4096
DIGEST = sha256(PAYLOAD)


def test_single_object_with_credentials_from_env(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    s3.put("fraud/3/model.onnx", PAYLOAD)
    uri = f"s3://{BUCKET}/fraud/3/model.onnx"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), "--sha256", DIGEST, env=s3.env())
    assert result.returncode == 0, result.all_output()
    assert result.termination.startswith(
        f"Verified: sha256 {DIGEST} of {uri} (file, {len(PAYLOAD)} bytes) -> "
    )
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == PAYLOAD
    assert all("Credential=" + s3.admin[0] in s.headers["authorization"] for s in s3_proxy.seen("/fraud/3/"))
    assert s3.admin[1] not in result.all_output()


def test_directory_prefix_downloads_recursively_with_a_tree_digest(
    s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path
) -> None:
    for rel, data in TREE.items():
        s3.put(f"tree/v1/{rel}", data)
    s3.put("tree/v1/", b"")  # a "directory marker" object: skipped
    s3.put("tree/v1-other/model.onnx", b"not part of the prefix")
    expected = shell_tree_digest(write_tree(tmp_path / "reference", TREE))
    dest = tmp_path / "dest"
    for uri in (f"s3://{BUCKET}/tree/v1/", f"s3://{BUCKET}/tree/v1"):  # no slash: no such object -> prefix
        result = fetch_cli(tmp_path, uri, str(dest), "--sha256", expected, env=s3.env())
        assert result.returncode == 0, result.all_output()
        assert result.termination.startswith(
            f"Verified: sha256 {expected} of {uri} (tree digest, {len(TREE)} files"
        )
        assert shell_tree_digest(dest) == expected  # rerun replaced the same entries, nothing more


def test_zip_archive_is_unpacked(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    archive = zip_bytes({"model.onnx": PAYLOAD, "extra/readme.txt": b"hi"})
    s3.put("zipped/model.zip", archive)
    dest = tmp_path / "dest"
    result = fetch_cli(
        tmp_path, f"s3://{BUCKET}/zipped/model.zip", str(dest), "--sha256", sha256(archive), env=s3.env()
    )
    assert result.returncode == 0, result.all_output()
    assert (dest / "model.onnx").read_bytes() == PAYLOAD
    assert (dest / "extra" / "readme.txt").read_bytes() == b"hi"


def test_missing_object_is_404_and_not_retried(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    uri = f"s3://{BUCKET}/nothing/here/"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), *FAST_RETRY, env=s3.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["no objects under prefix 'nothing/here/' in bucket 'models'", "(not retried)"],
        dest=tmp_path / "dest",
        secrets=s3.admin,
    )
    missing = f"s3://{BUCKET}/nothing/model.onnx"
    result = fetch_cli(tmp_path, missing, str(tmp_path / "dest"), *FAST_RETRY, env=s3.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=missing,
        causes=["no object 'nothing/model.onnx' nor objects under 'nothing/model.onnx/'"],
        dest=tmp_path / "dest",
    )


def test_access_denied_is_403_and_not_retried(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    s3.put("denied/model.onnx", PAYLOAD)
    s3.put("allowed/model.onnx", PAYLOAD)
    ok = fetch_cli(tmp_path, f"s3://{BUCKET}/allowed/model.onnx", str(tmp_path / "ok"), env=s3.env("reader"))
    assert ok.returncode == 0, ok.all_output()
    uri = f"s3://{BUCKET}/denied/model.onnx"
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), *FAST_RETRY, env=s3.env("reader"))
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["HTTP 403", "(not retried)"],
        dest=tmp_path / "dest",
        secrets=s3.reader,
    )
    assert len(s3_proxy.seen("/denied/")) == 1


def test_wrong_secret_is_refused_and_never_shown(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    s3.put("allowed/other.onnx", PAYLOAD)
    wrong = "wR0ng/Secret+Key0123456789abcdefghijklm"
    uri = f"s3://{BUCKET}/allowed/other.onnx"
    result = fetch_cli(
        tmp_path,
        uri,
        str(tmp_path / "dest"),
        *FAST_RETRY,
        env=s3.env("reader", secret=wrong, AWS_SESSION_TOKEN=""),
    )
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["HTTP 403"],
        dest=tmp_path / "dest",
        secrets=[wrong, s3.reader[0]],
    )


def test_5xx_then_success(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    s3.put("flaky/model.onnx", PAYLOAD)
    s3_proxy.add(Fault("status", match="/flaky/model.onnx", status=503, method="HEAD"))
    s3_proxy.add(Fault("status", match="/flaky/model.onnx", status=500, method="GET", times=2))
    result = fetch_cli(
        tmp_path,
        f"s3://{BUCKET}/flaky/model.onnx",
        str(tmp_path / "dest"),
        *FAST_RETRY,
        "--sha256",
        DIGEST,
        env=s3.env(),
    )
    assert result.returncode == 0, result.all_output()
    assert [s.method for s in s3_proxy.seen("/flaky/")] == ["HEAD", "HEAD", "GET", "GET", "GET"]
    assert "HTTP 503" in result.stderr
    assert "HTTP 500" in result.stderr


def test_truncated_body_is_retried(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    s3.put("cut/model.onnx", PAYLOAD)
    s3_proxy.add(Fault("truncate", match="/cut/model.onnx", method="GET"))
    result = fetch_cli(
        tmp_path, f"s3://{BUCKET}/cut/model.onnx", str(tmp_path / "dest"), *FAST_RETRY, env=s3.env()
    )
    assert result.returncode == 0, result.all_output()
    assert [s.method for s in s3_proxy.seen("/cut/")] == ["HEAD", "GET", "GET"]
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == PAYLOAD


def test_persistent_truncation_fails_and_leaves_nothing(
    s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path
) -> None:
    for rel, data in TREE.items():
        s3.put(f"cut-tree/{rel}", data)
    s3_proxy.add(Fault("truncate", match="/cut-tree/model.onnx", method="GET", times=10))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "previous.onnx").write_bytes(b"previous")
    uri = f"s3://{BUCKET}/cut-tree/"
    result = fetch_cli(tmp_path, uri, str(dest), "--attempts", "2", "--backoff", "0.05", env=s3.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["(object model.onnx)", "gave up after 2 attempts"],
        dest=dest,
        keep=["previous.onnx"],
    )


def test_timeouts_are_retried_with_backoff_then_fail_and_leave_nothing(
    s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path
) -> None:
    for rel, data in TREE.items():
        s3.put(f"stall-tree/{rel}", data)
    # model.onnx sorts after three other objects: they are already staged when its GET times out.
    s3_proxy.add(Fault("stall", match="/stall-tree/model.onnx", method="GET", seconds=1.5, times=3))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "previous.onnx").write_bytes(b"previous")
    uri = f"s3://{BUCKET}/stall-tree/"
    result = fetch_cli(tmp_path, uri, str(dest), *STALL_RETRY, env=s3.env())
    assert_failed(
        result,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=["(object model.onnx)", "timed out", "gave up after 3 attempts"],
        dest=dest,
        keep=["previous.onnx"],
        secrets=s3.admin,
    )
    assert (dest / "previous.onnx").read_bytes() == b"previous"
    times = [s.at for s in s3_proxy.seen("/stall-tree/model.onnx")]
    assert_timeouts_backed_off(result.stderr, times, "(object model.onnx)")


def test_checksum_mismatch_of_a_tree_leaves_nothing(
    s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path
) -> None:
    for rel, data in TREE.items():
        s3.put(f"mismatch/{rel}", data)
    uri = f"s3://{BUCKET}/mismatch/"
    actual = shell_tree_digest(write_tree(tmp_path / "reference", TREE))
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), "--sha256", "0" * 64, env=s3.env())
    assert_failed(
        result,
        exit_code=4,
        reason="ChecksumMismatch",
        uri=uri,
        causes=[f"expected {'0' * 64}, got {actual}", f"tree digest of {len(TREE)} files"],
        dest=tmp_path / "dest",
    )


def test_keys_that_escape_the_prefix_are_refused(s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path) -> None:
    s3.put("escape/model.onnx", PAYLOAD)
    s3.put("escape/../../outside.txt", b"gotcha")
    uri = f"s3://{BUCKET}/escape/"
    dest = tmp_path / "work" / "dest"
    result = fetch_cli(tmp_path, uri, str(dest), env=s3.env())
    assert_failed(
        result,
        exit_code=6,
        reason="InvalidModel",
        uri=uri,
        causes=["'../../outside.txt'", "would escape the destination"],
        dest=dest,
    )
    assert not (tmp_path / "outside.txt").exists()


def test_missing_half_of_the_key_pair_is_a_usage_error(tmp_path: Path) -> None:
    result = fetch_cli(
        tmp_path,
        f"s3://{BUCKET}/x/model.onnx",
        str(tmp_path / "dest"),
        env={"AWS_ACCESS_KEY_ID": "AKIAONLYHALF0000"},
    )
    assert result.returncode == 2
    assert result.termination.startswith("InvalidArgument: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
