"""A real SavedModel (built with tensorflow-cpu) fetched from an S3 prefix, a .tar.gz over HTTP, a .zip
from GCS and in place from a claim, laid out as TF Serving expects (``<base>/<version>/saved_model.pb`` +
``variables/``), and loaded back with ``tf.saved_model.load``. Skipped where TensorFlow is not importable; CI installs it."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.storage.conftest import BUCKET, GCSServer, HTTPServer, S3Server, fetch_cli
from tests.storage.samples import sha256, shell_tree_digest
from tests.storage.servers import FaultProxy

pytestmark = pytest.mark.tensorflow

VERSION = "7"


@pytest.fixture(scope="module")
def tf() -> Any:
    """The tensorflow module (imported only when these tests run)."""
    return pytest.importorskip(
        "tensorflow", reason="tensorflow-cpu is not importable here", exc_type=ImportError
    )


@pytest.fixture(scope="module")
def saved_model(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel of y = x @ [[2], [3]] + 1 with a ``serving_default`` signature."""

    class Linear(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[2.0], [3.0]])
            self.b = tf.Variable([1.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])  # type: ignore[untyped-decorator]
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Linear()
    path = tmp_path_factory.mktemp("savedmodel") / "export"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_loads(tf: Any, dest: Path) -> None:
    assert sorted(p.name for p in dest.iterdir()) == [VERSION]
    base = dest / VERSION
    assert (base / "saved_model.pb").is_file()
    assert (base / "variables" / "variables.index").is_file()
    loaded = tf.saved_model.load(str(base))
    y = loaded.signatures["serving_default"](x=tf.constant([[1.0, 1.0], [2.0, 0.5]]))["y"].numpy()
    assert y.ravel().tolist() == [6.0, 6.5]


def test_from_an_s3_directory_prefix(
    tf: Any, saved_model: Path, s3: S3Server, s3_proxy: FaultProxy, tmp_path: Path
) -> None:
    for rel, data in _files(saved_model).items():
        s3.put(f"tf/linear/{rel}", data)
    dest = tmp_path / "models"
    args = ["--format", "tensorflow", "--version", VERSION, "--sha256", shell_tree_digest(saved_model)]
    result = fetch_cli(tmp_path, f"s3://{BUCKET}/tf/linear/", str(dest), *args, env=s3.env())
    assert result.returncode == 0, result.all_output()
    assert result.termination.endswith(f"-> {dest / VERSION}\n")
    _assert_loads(tf, dest)


def test_from_a_claim_served_in_place(tf: Any, saved_model: Path, tmp_path: Path) -> None:
    """pvc://: ``<version>`` is a link to the SavedModel on the (read-only) claim, and TensorFlow loads
    through it."""
    mounts = tmp_path / "mnt-pvc"
    shutil.copytree(saved_model, mounts / "claim" / "linear")
    dest = tmp_path / "models"
    args = ["--format", "tensorflow", "--version", VERSION, "--sha256", shell_tree_digest(saved_model)]
    result = fetch_cli(
        tmp_path, "pvc://claim/linear/", str(dest), *args, env={"GLIDEPATH_PVC_ROOT": str(mounts)}
    )
    assert result.returncode == 0, result.all_output()
    assert (dest / VERSION).is_symlink()
    assert (dest / VERSION).resolve() == mounts / "claim" / "linear"
    _assert_loads(tf, dest)


def test_from_a_tar_gz_over_http(tf: Any, saved_model: Path, http: HTTPServer, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(saved_model, arcname="export")  # one top-level directory, as `tar czf m.tgz export/` makes
    uri = http.put("tf/linear.tar.gz", buffer.getvalue())
    dest = tmp_path / "models"
    args = ["--format", "tensorflow", "--version", VERSION, "--sha256", sha256(buffer.getvalue())]
    result = fetch_cli(tmp_path, uri, str(dest), *args)
    assert result.returncode == 0, result.all_output()
    _assert_loads(tf, dest)


def test_from_a_zip_on_gcs(
    tf: Any, saved_model: Path, gcs: GCSServer, gcs_proxy: FaultProxy, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for rel, data in _files(saved_model).items():
            zf.writestr(rel, data)  # the SavedModel's files at the archive's root
    gcs.put("tf/linear.zip", buffer.getvalue())
    dest = tmp_path / "models"
    result = fetch_cli(
        tmp_path,
        f"gs://{BUCKET}/tf/linear.zip",
        str(dest),
        "--format",
        "tensorflow",
        "--version",
        VERSION,
        env=gcs.env(),
    )
    assert result.returncode == 0, result.all_output()
    _assert_loads(tf, dest)
