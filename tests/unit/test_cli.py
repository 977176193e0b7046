"""The CLI's pure parts: the merge patch `glidepath undo` writes."""

from __future__ import annotations

from typing import Any

from glidepath.cli import replacement_patch


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def test_undo_patch_removes_what_the_older_revision_did_not_set() -> None:
    current = {
        "model": {"uri": "s3://m/2.onnx", "version": "2", "sha256": "a" * 64, "secretRef": {"name": "s3"}},
        "runtime": {"resources": {"limits": {"cpu": "2"}}, "env": [{"name": "A", "value": "1"}]},
    }
    target = {
        "model": {"uri": "s3://m/1.onnx", "version": "1", "secretRef": {"name": "s3"}},
        "runtime": {"env": [{"name": "B", "value": "2"}]},
    }
    patch = replacement_patch(current, target)
    assert patch["model"]["sha256"] is None
    assert patch["runtime"]["resources"] is None
    assert merge(current, patch) == target


def test_undo_patch_of_nested_objects_and_an_empty_target() -> None:
    current = {"resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "1"}}}
    target = {"resources": {"limits": {"cpu": "1"}}}
    assert replacement_patch(current, target) == {
        "resources": {"limits": {"cpu": "1", "memory": None}, "requests": None}
    }
    assert merge(current, replacement_patch(current, target)) == target
    assert merge(current, replacement_patch(current, {})) == {}
