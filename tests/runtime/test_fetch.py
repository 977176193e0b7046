"""``glidepath-runtime fetch`` as a real process, against a threaded HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from examples.models.generate import GeneratedModel, sample_inputs
from tests.runtime.harness import HOST, run_cli, start_runtime
from tests.runtime.test_clients import expected
from tests.runtime.test_serving import infer_bytes
from tests.storage.samples import shell_tree_digest
from tests.support.fileserver import serve_directory

PAYLOAD = b"pretend this is an ONNX model\n" * 1000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
WRONG = "0" * 64


@pytest.fixture(scope="module")
def served_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    (root / "models").mkdir()
    (root / "models" / "model.onnx").write_bytes(PAYLOAD)
    return root


@pytest.fixture(scope="module")
def http_base(served_dir: Path) -> Iterator[str]:
    """Base URL of a static HTTP server on 127.0.0.1 (random port) serving ``served_dir``."""
    with serve_directory(served_dir) as base:
        yield base


def test_http_with_good_sha256(http_base: str, tmp_path: Path) -> None:
    dest, log = tmp_path / "dest", tmp_path / "termination-log"
    uri = f"{http_base}/models/model.onnx"
    result = run_cli(
        "fetch", uri, str(dest), "--sha256", DIGEST.upper(), env={"GLIDEPATH_TERMINATION_LOG": str(log)}
    )
    assert result.returncode == 0, result.stderr
    assert (dest / "model.onnx").read_bytes() == PAYLOAD
    assert [p.name for p in dest.iterdir()] == ["model.onnx"]
    assert (dest / "model.onnx").stat().st_mode & 0o777 == 0o644
    assert f"Verified: sha256 {DIGEST} of {uri} (file, {len(PAYLOAD)} bytes)" in result.stdout
    assert log.read_text().startswith(f"Verified: sha256 {DIGEST} of {uri}")


def test_http_with_sha256_mismatch_leaves_nothing(http_base: str, tmp_path: Path) -> None:
    dest, log = tmp_path / "dest", tmp_path / "termination-log"
    result = run_cli(
        "fetch",
        f"{http_base}/models/model.onnx",
        str(dest),
        "--sha256",
        WRONG,
        env={"GLIDEPATH_TERMINATION_LOG": str(log)},
    )
    assert result.returncode == 4
    assert log.read_text().startswith("ChecksumMismatch: sha256 mismatch for ")
    for text in (result.stderr, log.read_text()):
        assert f"expected {WRONG}" in text
        assert f"got {DIGEST}" in text
    assert list(dest.iterdir()) == []


def test_mismatch_keeps_an_existing_file(http_base: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model.onnx").write_bytes(b"previous")
    result = run_cli("fetch", f"{http_base}/models/model.onnx", str(dest), "--sha256", WRONG)
    assert result.returncode == 4
    assert [p.name for p in dest.iterdir()] == ["model.onnx"]
    assert (dest / "model.onnx").read_bytes() == b"previous"


def test_http_404_fails_with_exit_3(http_base: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    result = run_cli("fetch", f"{http_base}/models/missing.onnx", str(dest))
    assert result.returncode == 3
    assert "HTTP 404" in result.stderr
    assert list(dest.iterdir()) == []


def test_connection_refused_fails_with_exit_3(tmp_path: Path) -> None:
    result = run_cli("fetch", f"http://{HOST}:9/model.onnx", str(tmp_path / "dest"), "--attempts", "1")
    assert result.returncode == 3
    assert f"FetchFailed: cannot fetch http://{HOST}:9/model.onnx: " in result.stderr


def test_file_uri_without_sha256(served_dir: Path, tmp_path: Path) -> None:
    source = served_dir / "models" / "model.onnx"
    result = run_cli("fetch", source.as_uri(), str(tmp_path / "dest"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == PAYLOAD
    assert result.stdout.startswith(f"Fetched: sha256 {DIGEST} of {source.as_uri()} (file, ")
    assert "not verified: no --sha256 given" in result.stdout


def test_file_uri_with_sha256(served_dir: Path, tmp_path: Path) -> None:
    source = served_dir / "models" / "model.onnx"
    result = run_cli("fetch", source.as_uri(), str(tmp_path), "--sha256", f"sha256:{DIGEST}")
    assert result.returncode == 0, result.stderr
    assert f"Verified: sha256 {DIGEST}" in result.stdout


def test_missing_file_fails_with_exit_3(tmp_path: Path) -> None:
    result = run_cli("fetch", (tmp_path / "absent.onnx").as_uri(), str(tmp_path / "dest"))
    assert result.returncode == 3
    assert "absent.onnx" in result.stderr
    assert list((tmp_path / "dest").iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "sha256", "message"),
    [
        ("gopher://example.invalid/model.onnx", None, "unsupported scheme 'gopher'"),
        ("ftp://example.invalid/model.onnx", None, "unsupported scheme 'ftp'"),
        ("model.onnx", None, "unsupported scheme '(none)'"),
        ("http://127.0.0.1:1/models/", None, "has no file name"),
        ("file:///tmp/model.onnx", "abc", "--sha256 must be 64 hex digits"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, uri: str, sha256: str | None, message: str) -> None:
    log = tmp_path / "termination-log"
    args = ["fetch", uri, str(tmp_path / "dest")] + (["--sha256", sha256] if sha256 else [])
    result = run_cli(*args, env={"GLIDEPATH_TERMINATION_LOG": str(log)})
    assert result.returncode == 2
    assert message in result.stderr
    assert log.read_text().startswith("InvalidArgument: ")
    assert message in log.read_text()
    assert not (tmp_path / "dest").exists()


def test_model_on_a_claim_is_served_in_place(good_model: GeneratedModel, tmp_path: Path) -> None:
    """pvc://: the fetcher verifies the model on the read-only claim and links it into the model
    directory; the runtime serves it through the link and predicts what onnxruntime does in-process."""
    mounts = tmp_path / "mnt-pvc"
    model_dir = mounts / "model-store" / "classifier" / "3"
    model_dir.mkdir(parents=True)
    shutil.copy(good_model.path, model_dir / "model.onnx")
    for path in (model_dir / "model.onnx", model_dir, model_dir.parent, model_dir.parent.parent):
        path.chmod(0o444 if path.is_file() else 0o555)  # as a readOnly claim mount is
    dest = tmp_path / "models"
    uri = "pvc://model-store/classifier/3/"
    fetched = run_cli(
        "fetch",
        uri,
        str(dest),
        "--sha256",
        shell_tree_digest(model_dir),
        env={"GLIDEPATH_PVC_ROOT": str(mounts)},
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (dest / "model.onnx").is_symlink()
    rows = sample_inputs(5)
    with start_runtime(dest, "classifier", "3", tmp_path / "runtime.log") as server:
        response = server.post("/v2/models/classifier/infer", json.loads(infer_bytes(rows)))
    assert response.status == 200, response.body
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    want = expected(good_model, rows)
    assert outputs["label"] == want["label"].tolist()
    np.testing.assert_allclose(outputs["probabilities"], want["probabilities"].reshape(-1), rtol=1e-6)
