"""``file://`` and ``pvc://`` (a claim mounted at ``$GLIDEPATH_PVC_ROOT/<claim>``), and what DEST looks like
after success, failure and a rerun."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.storage.conftest import assert_failed, fetch_cli
from tests.storage.samples import TREE, sha256, shell_tree_digest, tar_gz, write_tree


def _read_only(root: Path) -> None:
    """Make a tree read-only, as a claim mounted readOnly is (restored by pytest's tmp_path cleanup)."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def test_pvc_directory_is_verified_and_served_in_place(tmp_path: Path) -> None:
    """Nothing is copied: DEST gets one symlink per entry of the claim's directory, and the digest is
    the tree digest of what the claim holds."""
    mounts = tmp_path / "mnt-pvc"
    model = write_tree(mounts / "models-claim" / "fraud" / "3", TREE)
    _read_only(mounts)
    expected = shell_tree_digest(model)
    dest = tmp_path / "dest"
    uri = "pvc://models-claim/fraud/3"
    result = fetch_cli(
        tmp_path, uri, str(dest), "--sha256", expected, env={"GLIDEPATH_PVC_ROOT": str(mounts)}
    )
    assert result.returncode == 0, result.all_output()
    assert result.termination.startswith(
        f"Verified: sha256 {expected} of {uri} (tree digest, {len(TREE)} files"
    )
    assert result.termination.rstrip().endswith(", served in place")
    tops = sorted({rel.split("/")[0] for rel in TREE})
    assert sorted(os.listdir(dest)) == tops
    for name in tops:
        assert (dest / name).is_symlink()
        assert os.readlink(dest / name) == str(model / name)
    for rel, data in TREE.items():
        assert (dest / rel).read_bytes() == data
        assert (dest / rel).samefile(model / rel)


def test_pvc_single_file_is_linked_and_a_missing_path_fails(tmp_path: Path) -> None:
    mounts = tmp_path / "mnt-pvc"
    write_tree(mounts / "claim", {"m/model.onnx": b"onnx"})
    _read_only(mounts)
    env = {"GLIDEPATH_PVC_ROOT": str(mounts)}
    ok = fetch_cli(
        tmp_path, "pvc://claim/m/model.onnx", str(tmp_path / "ok"), "--sha256", sha256(b"onnx"), env=env
    )
    assert ok.returncode == 0, ok.all_output()
    assert os.readlink(tmp_path / "ok" / "model.onnx") == str(mounts / "claim" / "m" / "model.onnx")
    assert (tmp_path / "ok" / "model.onnx").read_bytes() == b"onnx"
    uri = "pvc://claim/m/absent.onnx"
    missing = fetch_cli(tmp_path, uri, str(tmp_path / "dest"), env=env)
    assert_failed(
        missing,
        exit_code=3,
        reason="FetchFailed",
        uri=uri,
        causes=[f"no such file or directory: {mounts}/claim/m/absent.onnx", "(not retried)"],
        dest=tmp_path / "dest",
    )


def test_pvc_checksum_mismatch_links_nothing(tmp_path: Path) -> None:
    mounts = tmp_path / "mnt-pvc"
    write_tree(mounts / "claim", {"m/model.onnx": b"tampered"})
    dest = write_tree(tmp_path / "dest", {"model.onnx": b"previous"})
    uri = "pvc://claim/m/model.onnx"
    result = fetch_cli(
        tmp_path, uri, str(dest), "--sha256", sha256(b"onnx"), env={"GLIDEPATH_PVC_ROOT": str(mounts)}
    )
    assert_failed(
        result,
        exit_code=4,
        reason="ChecksumMismatch",
        uri=uri,
        causes=[sha256(b"onnx"), sha256(b"tampered")],
        dest=dest,
        keep=["model.onnx"],
    )
    assert not (dest / "model.onnx").is_symlink()
    assert (dest / "model.onnx").read_bytes() == b"previous"


def test_pvc_archive_is_unpacked_into_dest(tmp_path: Path) -> None:
    """An archive cannot be served in place: it is unpacked into DEST like one from any other scheme."""
    mounts = tmp_path / "mnt-pvc"
    archive = tar_gz({"model.onnx": b"packed"})
    write_tree(mounts / "claim", {"model.tar.gz": archive})
    dest = tmp_path / "dest"
    result = fetch_cli(
        tmp_path,
        "pvc://claim/model.tar.gz",
        str(dest),
        "--sha256",
        sha256(archive),
        env={"GLIDEPATH_PVC_ROOT": str(mounts)},
    )
    assert result.returncode == 0, result.all_output()
    assert "served in place" not in result.termination
    assert not (dest / "model.onnx").is_symlink()
    assert (dest / "model.onnx").read_bytes() == b"packed"


def test_pvc_tensorflow_version_links_to_the_saved_model(tmp_path: Path) -> None:
    mounts = tmp_path / "mnt-pvc"
    claim = write_tree(
        mounts / "claim", {"export/1/saved_model.pb": b"pb", "export/1/variables/variables.index": b"i"}
    )
    _read_only(mounts)
    dest = tmp_path / "dest"
    result = fetch_cli(
        tmp_path,
        "pvc://claim/export/",
        str(dest),
        "--format",
        "tensorflow",
        "--version",
        "42",
        env={"GLIDEPATH_PVC_ROOT": str(mounts)},
    )
    assert result.returncode == 0, result.all_output()
    assert os.listdir(dest) == ["42"]
    assert os.readlink(dest / "42") == str(claim / "export" / "1")
    assert (dest / "42" / "variables" / "variables.index").read_bytes() == b"i"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("pvc://claim/../other/model.onnx", "has a '..' segment"),
        ("pvc://Not_A_Claim/model.onnx", "has no valid claim name"),
        ("s3:///key", "has no valid bucket name"),
        ("file://otherhost/model.onnx", "names host 'otherhost'"),
    ],
)
def test_bad_uris_are_usage_errors(tmp_path: Path, uri: str, message: str) -> None:
    result = fetch_cli(tmp_path, uri, str(tmp_path / "dest"))
    assert result.returncode == 2, result.all_output()
    assert result.reason == "InvalidArgument"
    assert message in result.termination


def test_symlinks_in_a_source_directory_are_refused(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", {"model.onnx": b"x"})
    (source / "link").symlink_to("/etc/hostname")
    dest = tmp_path / "dest"
    result = fetch_cli(tmp_path, source.as_uri() + "/", str(dest))
    assert_failed(
        result,
        exit_code=6,
        reason="InvalidModel",
        uri=source.as_uri() + "/",
        causes=["'link' is a symlink"],
        dest=dest,
    )


def test_rerun_replaces_entries_and_clears_stale_staging(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", {"model.onnx": b"new", "sub/a.txt": b"a"})
    dest = tmp_path / "dest"
    write_tree(dest, {"model.onnx": b"old", "sub/stale.txt": b"stale", "unrelated.txt": b"keep"})
    (dest / ".glidepath-fetch-killed" / "src").mkdir(parents=True)  # a killed run's leftovers
    result = fetch_cli(tmp_path, source.as_uri(), str(dest))
    assert result.returncode == 0, result.all_output()
    assert sorted(os.listdir(dest)) == ["model.onnx", "sub", "unrelated.txt"]
    assert (dest / "model.onnx").read_bytes() == b"new"
    assert sorted(os.listdir(dest / "sub")) == ["a.txt"]  # the entry is replaced whole


def test_failure_keeps_what_dest_held(tmp_path: Path) -> None:
    archive = tar_gz({"model.onnx": b"x", "/etc/cron.d/evil": b"gotcha"})
    source = tmp_path / "model.tar.gz"
    source.write_bytes(archive)
    dest = tmp_path / "dest"
    write_tree(dest, {"model.onnx": b"previous"})
    result = fetch_cli(tmp_path, source.as_uri(), str(dest))
    assert_failed(
        result,
        exit_code=6,
        reason="InvalidModel",
        uri=source.as_uri(),
        causes=["refusing absolute path '/etc/cron.d/evil'"],
        dest=dest,
        keep=["model.onnx"],
    )
    assert (dest / "model.onnx").read_bytes() == b"previous"


def test_unwritable_destination_fails_cleanly(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", {"model.onnx": b"x"})
    blocker = tmp_path / "file-not-dir"
    blocker.write_bytes(b"")
    result = fetch_cli(tmp_path, (source / "model.onnx").as_uri(), str(blocker / "dest"))
    assert result.returncode == 3
    assert result.termination.startswith(f"FetchFailed: cannot write to destination directory {blocker}/dest")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pytorch"], "--format must be one of onnx, tensorflow"),
        (["--format", "tensorflow", "--version", "v3"], "--version must be a number for --format tensorflow"),
        (["--attempts", "0"], "--attempts must be >= 1"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    source = write_tree(tmp_path / "src", {"model.onnx": b"x"})
    result = fetch_cli(tmp_path, (source / "model.onnx").as_uri(), str(tmp_path / "dest"), *args)
    assert result.returncode == 2
    assert result.reason == "InvalidArgument"
    assert message in result.termination


def test_tensorflow_layout_from_a_versioned_base_directory(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "base", {"1/saved_model.pb": b"pb", "1/variables/variables.index": b"i"})
    dest = tmp_path / "dest"
    result = fetch_cli(
        tmp_path, source.as_uri() + "/", str(dest), "--format", "tensorflow", "--version", "42"
    )
    assert result.returncode == 0, result.all_output()
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "42",
        "42/saved_model.pb",
        "42/variables",
        "42/variables/variables.index",
    ]


def test_tensorflow_version_defaults_to_1_and_a_lone_saved_model_pb_works(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "src", {"saved_model.pb": b"pb"})
    result = fetch_cli(
        tmp_path, (source / "saved_model.pb").as_uri(), str(tmp_path / "dest"), "--format", "tensorflow"
    )
    assert result.returncode == 0, result.all_output()
    assert (tmp_path / "dest" / "1" / "saved_model.pb").read_bytes() == b"pb"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"model.onnx": b"x"}, "holds no saved_model.pb"),
        ({"a/saved_model.pb": b"1", "b/saved_model.pb": b"2"}, "holds 2 SavedModels (a/, b/)"),
    ],
)
def test_tensorflow_layout_needs_exactly_one_saved_model(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    source = write_tree(tmp_path / "src", files)
    dest = tmp_path / "dest"
    result = fetch_cli(tmp_path, source.as_uri(), str(dest), "--format", "tensorflow")
    assert_failed(
        result, exit_code=6, reason="InvalidModel", uri=source.as_uri(), causes=[message], dest=dest
    )
