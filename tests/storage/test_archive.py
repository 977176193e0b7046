"""Safe unpacking: every hostile member is refused before anything is written, with a message naming it."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from glidepath_runtime.storage.archive import is_archive, unpack
from glidepath_runtime.storage.errors import InvalidModel

from tests.storage.samples import tar_gz, tar_special, zip_bytes

WHERE = "s3://models/evil.tar.gz"


def _unpack(tmp_path: Path, name: str, data: bytes) -> Path:
    archive = tmp_path / name
    archive.write_bytes(data)
    dest = tmp_path / "out"
    dest.mkdir()
    unpack(archive, dest, WHERE)
    return dest


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.tar.gz", tar_gz({"../x": b""}), "'../x': '..' would escape the destination"),
        ("a.tar.gz", tar_gz({"ok/../../x": b""}), "'ok/../../x': '..' would escape"),
        ("a.tar.gz", tar_gz({"/etc/passwd": b""}), "refusing absolute path '/etc/passwd'"),
        (
            "a.tar.gz",
            tar_gz({}, links={"link": "/etc/passwd"}),
            "a symlink to '/etc/passwd' escapes the destination",
        ),
        ("a.tar.gz", tar_gz({}, links={"link": "../../x"}), "a symlink to '../../x' escapes the destination"),
        ("a.tar.gz", tar_gz({"m": b""}, links={"link": "m"}), "links are not allowed in model archives"),
        ("a.tar.gz", tar_gz({"m": b""}, links={"hard": "m"}, hard=True), "a hard link to 'm'"),
        ("a.tar.gz", tar_special("dev", tarfile.CHRTYPE), "'dev': not a regular file or directory"),
        ("a.tar.gz", tar_special("fifo", tarfile.FIFOTYPE), "'fifo': not a regular file or directory"),
        ("a.tar.gz", tar_gz({"we\\ird": b""}), "backslash, newline, carriage return and NUL are not allowed"),
        ("a.zip", zip_bytes({"../x": b""}), "'../x': '..' would escape the destination"),
        ("a.zip", zip_bytes({"/abs": b""}), "refusing absolute path '/abs'"),
        ("a.zip", zip_bytes({}, symlinks={"link": "/etc/passwd"}), "'link': a symlink"),
        ("a.tar.gz", b"\x1f\x8bnot really gzip", "corrupt archive"),
        ("a.zip", b"PK\x03\x04 truncated", "corrupt archive"),
    ],
)
def test_hostile_archives_are_refused(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    with pytest.raises(InvalidModel) as caught:
        _unpack(tmp_path, name, data)
    assert WHERE in str(caught.value)
    assert message in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_zip_entries_without_a_unix_file_type_are_files(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("model.onnx", b"m")  # external_attr 0o600 << 16: permissions, no type bits
        info = zipfile.ZipInfo("dos/model.bin")
        info.external_attr = 0x20  # a DOS "archive" attribute only
        zf.writestr(info, b"d")
    dest = _unpack(tmp_path, "a.zip", buffer.getvalue())
    assert (dest / "model.onnx").read_bytes() == b"m"
    assert (dest / "dos" / "model.bin").read_bytes() == b"d"


def test_file_and_directory_with_one_name_conflict(tmp_path: Path) -> None:
    with pytest.raises(InvalidModel, match="conflicts with another entry"):
        _unpack(tmp_path, "a.tar.gz", tar_gz({"m": b"file", "m/x": b"under a file"}))


def test_modes_are_normalized_and_dot_slash_names_accepted(tmp_path: Path) -> None:
    dest = _unpack(
        tmp_path, "a.tgz", tar_gz({"./model/saved_model.pb": b"pb", "./model/variables/v.index": b"i"})
    )
    assert (dest / "model" / "saved_model.pb").read_bytes() == b"pb"
    assert (dest / "model" / "saved_model.pb").stat().st_mode & 0o777 == 0o644
    assert (dest / "model" / "variables").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("m.tar.gz", True),
        ("m.TGZ", True),
        ("m.tar", True),
        ("m.zip", True),
        ("m.onnx", False),
        ("m.gz", False),
    ],
)
def test_is_archive(name: str, expected: bool) -> None:
    assert is_archive(name) is expected
