"""The tree digest equals the README's shell pipeline, byte for byte, on awkward names."""

from __future__ import annotations

from pathlib import Path

import pytest
from glidepath_runtime.storage.digest import check_relative_path, directory_digest
from glidepath_runtime.storage.errors import InvalidModel

from tests.storage.samples import TREE, TREE_DIGEST_PIPELINE, shell_tree_digest, write_tree


@pytest.mark.parametrize(
    "files",
    [
        TREE,
        {"only.bin": b""},
        {"a/b": b"1", "a-b": b"2", "a.b": b"3", "a b": b"4", "A": b"5", "a/B/c": b"6", "\u00fc/\u00e9": b"7"},
        {f"d{i}/f{j}.bin": bytes([i, j]) * 100 for i in range(5) for j in range(12)},
    ],
    ids=["tree", "one-empty-file", "sort-order", "many"],
)
def test_tree_digest_matches_the_shell_pipeline(tmp_path: Path, files: dict[str, bytes]) -> None:
    root = write_tree(tmp_path / "tree", files)
    assert directory_digest(root) == shell_tree_digest(root)


@pytest.mark.parametrize(
    ("path", "segments"), [("a/b", ["a", "b"]), ("./a//b/", ["a", "b"]), ("a/./b", ["a", "b"])]
)
def test_relative_paths(path: str, segments: list[str]) -> None:
    assert check_relative_path(path, "where") == segments


@pytest.mark.parametrize("path", ["/a", "../a", "a/../b", "a\\b", "a\nb", "a\rb", "", "./"])
def test_unsafe_relative_paths(path: str) -> None:
    with pytest.raises(InvalidModel, match=r"^where: refusing"):
        check_relative_path(path, "where")


@pytest.mark.parametrize("readme", ["README.md", "runtime-images/onnxruntime/README.md"])
def test_the_readmes_document_this_pipeline(readme: str) -> None:
    text = (Path(__file__).resolve().parents[2] / readme).read_text()
    assert f"{TREE_DIGEST_PIPELINE} | cut -d' ' -f1" in text
