"""The gRPC service definition: the committed descriptor set is what protoc makes of the committed
``.proto`` (drift check), and its messages are wire-compatible with the copies that ship in the kserve
and tritonclient packages (same names, numbers and types for every field)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from glidepath_runtime.protocols import grpc_v2

PROTO_DIR = Path(resources.files("glidepath_runtime").joinpath("proto"))  # type: ignore[arg-type]


def fields(descriptor: Any) -> dict[str, Any]:
    """Message full name -> {field name: (number, type, label, message type)}, nested included."""
    out: dict[str, Any] = {}

    def visit(message: Any) -> None:
        out[message.full_name] = {
            f.name: (f.number, f.type, f.is_repeated, f.message_type.full_name if f.message_type else None)
            for f in message.fields
        }
        for nested in message.nested_types:
            visit(nested)

    for message in descriptor.message_types_by_name.values():
        visit(message)
    return out


def test_descriptor_set_matches_the_proto(tmp_path: Path) -> None:
    out = tmp_path / "out.binpb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--descriptor_set_out={out}",
            "grpc_predict_v2.proto",
        ],
        check=True,
        timeout=60,
    )
    assert out.read_bytes() == (PROTO_DIR / "grpc_predict_v2.binpb").read_bytes(), (
        "regenerate the descriptor set: see the header of grpc_predict_v2.proto"
    )


def ours() -> Any:
    return grpc_v2.message_classes()["ModelInferRequest"].DESCRIPTOR.file


_DUMP = """
import json, sys, importlib
module = importlib.import_module(sys.argv[1])
out = {}
def visit(message):
    out[message.full_name] = {
        f.name: [f.number, f.type, f.is_repeated, f.message_type.full_name if f.message_type else None]
        for f in message.fields
    }
    for nested in message.nested_types:
        visit(nested)
for message in module.DESCRIPTOR.message_types_by_name.values():
    visit(message)
service = module.DESCRIPTOR.services_by_name["GRPCInferenceService"]
out["methods"] = {m.name: [m.input_type.full_name, m.output_type.full_name] for m in service.methods}
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    "module", ["tritonclient.grpc.service_pb2", "kserve.protocol.grpc.grpc_predict_v2_pb2"]
)
def test_wire_compatible_with(module: str) -> None:
    # In a subprocess: the two packages cannot be imported into one process together.
    result = subprocess.run(
        [sys.executable, "-c", _DUMP, module], capture_output=True, text=True, check=True, timeout=120
    )
    theirs = json.loads(result.stdout)
    mine = fields(ours())
    for message, message_fields in mine.items():
        assert message in theirs, message
        for name, spec in message_fields.items():
            assert theirs[message].get(name) == list(spec), f"{message}.{name}"
    service = ours().services_by_name["GRPCInferenceService"]
    for method in service.methods:
        assert theirs["methods"][method.name] == [method.input_type.full_name, method.output_type.full_name]
