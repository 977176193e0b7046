"""The TensorFlow tests skip themselves where their packages cannot install; this makes sure that
where they can (CI's x86_64 CPython below 3.14), a missing package fails the run instead of silently
skipping them (tests/storage/test_tensorflow.py, tests/unit/test_tfserving_config.py)."""

from __future__ import annotations

import importlib.util
import platform
import sys


def test_packages_the_tensorflow_tests_need_are_installed_where_they_can_be() -> None:
    wanted = ["google.protobuf", "tensorflow_serving"]  # tensorflow-serving-api: `make setup` installs it
    if platform.machine() == "x86_64" and sys.version_info < (3, 14):  # pyproject's marker
        wanted.append("tensorflow")
    missing = [name for name in wanted if importlib.util.find_spec(name) is None]
    assert not missing, f"not installed: {missing}; run `make setup` (pip install -e '.[dev]')"
