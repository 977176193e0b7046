"""Fixtures: the example models (generated once per session) and one runtime server serving the good one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.models.generate import GeneratedModel, generate
from tests.runtime.harness import RuntimeProcess, start_runtime

MODEL_NAME = "classifier"
MODEL_VERSION = "3"


@pytest.fixture(scope="session")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    """The example classifier: input FP32 [-1, 8]; outputs label INT64 [-1], probabilities FP32 [-1, 3]."""
    return generate(tmp_path_factory.mktemp("good-model"), "good")


@pytest.fixture(scope="session")
def bad_model(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    """The 'bad' canary variant: input FP32 [-1, 6]."""
    return generate(tmp_path_factory.mktemp("bad-model"), "bad")


@pytest.fixture(scope="session")
def zipmap_model(tmp_path_factory: pytest.TempPathFactory) -> GeneratedModel:
    """The classifier converted with ZipMap: output_probability is a sequence of maps."""
    return generate(tmp_path_factory.mktemp("zipmap-model"), "zipmap")


@pytest.fixture(scope="session")
def runtime(good_model: GeneratedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    """``glidepath-runtime serve`` of the good model as ``classifier`` version ``3`` on 127.0.0.1."""
    log = tmp_path_factory.mktemp("runtime-log") / "runtime.log"
    with start_runtime(good_model.path.parent, MODEL_NAME, MODEL_VERSION, log) as server:
        yield server
