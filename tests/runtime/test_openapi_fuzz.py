"""Schemathesis fuzzes a real server against its own OpenAPI document (``GET /openapi.json``): every
operation, schema-valid and invalid inputs. No 5xx, every status and content type documented, every
JSON answer of its documented shape; the server stays live."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.runtime.harness import RuntimeProcess, start_runtime


@pytest.fixture(scope="module")
def fuzzed(types_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    """The all-datatypes identity model, so schema-valid tensors of any datatype can be accepted."""
    log = tmp_path_factory.mktemp("fuzzed") / "runtime.log"
    with start_runtime(
        types_model.parent, "types", "2", log, extra_args=["--max-body-bytes", "65536"]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzzed: RuntimeProcess) -> Any:
    return schemathesis.openapi.from_url(f"http://{fuzzed.url}/openapi.json")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_conforms(api_schema: Any) -> None:
    """Each operation in turn (schemathesis' own pytest plugin does not load under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS, timeout=10)

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
            assert mode == GenerationMode.NEGATIVE


def test_still_live_after_fuzzing(fuzzed: RuntimeProcess) -> None:
    assert fuzzed.get("/v2/health/live").status == 200
    assert "Traceback" not in fuzzed.log()
