"""Turning a fetched tree into what a runtime reads, and moving it into DEST without a partial state.

- ``onnx``: the tree as is (a single file stays ``DEST/<name>``; an archive whose entries all sit in one
  top-level directory is unpacked as that directory's content, so ``DEST/model.onnx`` is where
  ``serve`` looks).
- ``tensorflow``: TF Serving's base path layout ``DEST/<version>/saved_model.pb`` (+ ``variables/``,
  ``assets/``...): the one directory of the tree that holds ``saved_model.pb`` (or ``saved_model.pbtxt``)
  becomes ``<version>/``; none or several is an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from glidepath_runtime.storage.errors import InvalidModel

FORMATS: Final = ("onnx", "tensorflow")
_SAVED_MODEL_FILES: Final = ("saved_model.pb", "saved_model.pbtxt")


def single_directory(tree: Path) -> Path:
    """``tree``'s only entry when that is a directory, else ``tree``."""
    entries = list(tree.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return tree


def find_saved_model(tree: Path, where: str) -> Path:
    """The one directory under ``tree`` (itself included) holding ``saved_model.pb``/``.pbtxt``.

    Raises:
        InvalidModel: none, or several (the message lists them).
    """
    roots = sorted(
        {
            Path(dirpath)
            for dirpath, _dirs, files in os.walk(tree)
            if any(f in files for f in _SAVED_MODEL_FILES)
        }
    )
    if not roots:
        raise InvalidModel(
            f"{where} holds no saved_model.pb; --format tensorflow needs a SavedModel directory "
            "(saved_model.pb and variables/) or an archive of one"
        )
    if len(roots) > 1:
        names = ", ".join((r.relative_to(tree).as_posix() or ".") + "/" for r in roots[:5])
        raise InvalidModel(f"{where} holds {len(roots)} SavedModels ({names}); expected exactly one")
    return roots[0]


def install(staged: Path, names: list[str], dest: Path, backup: Path) -> list[Path]:
    """Move ``staged/<name>`` to ``dest/<name>`` for each name, replacing what is there.

    Each replaced entry is first renamed into ``backup``; if any move fails, the moves done so far are
    undone, so ``dest`` ends either all new or all as before. All paths are on one filesystem.

    Raises:
        OSError: a rename failed (after the rollback).
    """
    done: list[tuple[str, bool]] = []
    try:
        for name in names:
            target = dest / name
            replaced = target.exists() or target.is_symlink()
            if replaced:
                os.replace(target, backup / name)
            done.append((name, replaced))
            os.replace(staged / name, target)
    except OSError:
        for name, replaced in reversed(done):
            target = dest / name
            if target.exists() and not (staged / name).exists():
                os.replace(target, staged / name)
            if replaced:
                os.replace(backup / name, target)
        raise
    return [dest / name for name in names]
