"""Fixtures: the example models (generated once per session) and runtime servers serving them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.models.generate import GeneratedModel, generate
from tests.runtime.harness import RuntimeProcess, start_runtime
from tests.runtime.models import identity_all_types, slow

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


@pytest.fixture(scope="session")
def types_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Identity model over every datatype (``in_fp32`` -> ``out_fp32`` …), dims ``[n, m]``."""
    return identity_all_types(tmp_path_factory.mktemp("types-model") / "model.onnx")


@pytest.fixture(scope="session")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MatMul chain whose run time grows with the rows (``x`` FP32 ``[-1, 512]``)."""
    return slow(tmp_path_factory.mktemp("slow-model") / "model.onnx")


@pytest.fixture(scope="session")
def types_runtime(types_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    """``glidepath-runtime serve`` of the identity model as ``types`` (unversioned), HTTP and gRPC."""
    log = tmp_path_factory.mktemp("types-log") / "runtime.log"
    with start_runtime(types_model.parent, "types", None, log) as server:
        yield server
