"""Open Inference Protocol gRPC codec: ``inference.GRPCInferenceService`` messages <-> numpy.

The message classes come from ``proto/grpc_predict_v2.binpb`` (the descriptor set protoc compiled from
``proto/grpc_predict_v2.proto``), loaded into a private descriptor pool: no generated ``*_pb2.py`` to
keep in step with the protobuf runtime, and no clash with other copies of the same ``inference.*``
messages in one process (tritonclient and kserve each register their own in the default pool).

Inputs come either as ``raw_input_contents`` (one entry per input: see
:func:`~glidepath_runtime.datatypes.raw_to_array`), or as typed ``contents`` (``fp32_contents`` …;
``FP16`` has no typed field and must be raw). Outputs answer in the form the inputs came in.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import numpy as np

from glidepath_runtime import __version__
from glidepath_runtime.datatypes import V2_TO_NUMPY, array_to_raw, numpy_to_v2, raw_to_array
from glidepath_runtime.errors import BadRequest
from glidepath_runtime.model import PLATFORM, Array, Model, TensorSpec
from glidepath_runtime.protocols.v2 import EXTENSIONS, SERVER_NAME

#: The gRPC service's full name.
SERVICE: Final = "inference.GRPCInferenceService"

#: Typed contents field per datatype.
CONTENTS_FIELD: Final = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

#: The RPCs: method name -> (request message, response message).
METHODS: Final = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


@functools.cache
def message_classes() -> dict[str, Any]:
    """The ``inference.*`` message classes by short name (``"ModelInferRequest"`` …)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    data = resources.files("glidepath_runtime").joinpath("proto/grpc_predict_v2.binpb").read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    names = {name for pair in METHODS.values() for name in pair}
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{name}"))
        for name in names
    }


@dataclass(frozen=True, slots=True)
class GrpcInferRequest:
    """A decoded ``ModelInferRequest``."""

    id: str
    inputs: dict[str, Array]
    output_names: list[str] | None
    raw: bool


def server_metadata() -> Any:
    """``ServerMetadataResponse``."""
    return message_classes()["ServerMetadataResponse"](
        name=SERVER_NAME, version=__version__, extensions=list(EXTENSIONS)
    )


def model_metadata(model: Model) -> Any:
    """``ModelMetadataResponse`` of a loaded model."""
    response = message_classes()["ModelMetadataResponse"](
        name=model.name, versions=model.versions, platform=PLATFORM
    )
    for spec in model.inputs.values():
        response.inputs.add(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))
    for spec in model.outputs.values():
        response.outputs.add(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))
    return response


def decode_infer_request(request: Any, specs: Mapping[str, TensorSpec]) -> GrpcInferRequest:
    """Turn a ``ModelInferRequest`` into arrays, checked like the REST codec checks JSON.

    Raises:
        BadRequest: unknown input, datatype mismatch, negative dims, contents that do not match the
            shape, raw and typed contents mixed, unsupported extensions.
    """
    raw_contents = request.raw_input_contents
    if raw_contents and len(raw_contents) != len(request.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw_contents)} entries for {len(request.inputs)} inputs"
        )
    if not request.inputs:
        raise BadRequest("'inputs' must not be empty")
    arrays: dict[str, Array] = {}
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        spec = specs.get(name)
        if spec is None:
            raise BadRequest(f"unknown input {name!r}; the model's inputs are {list(specs)}")
        if name in arrays:
            raise BadRequest(f"input {name!r} is given more than once")
        if tensor.datatype != spec.datatype:
            raise BadRequest(
                f"input {name!r}: datatype {tensor.datatype} does not match the model's {spec.datatype}"
            )
        shape = list(tensor.shape)
        if any(d < 0 for d in shape):
            raise BadRequest(f"input {name!r}: shape {shape} has a negative dimension")
        if "shared_memory_region" in tensor.parameters:
            raise BadRequest(f"input {name!r}: the shared memory extension is not supported by this server")
        if raw_contents:
            if tensor.HasField("contents"):
                raise BadRequest(f"input {name!r}: give raw_input_contents or contents, not both")
            arrays[name] = raw_to_array(name, raw_contents[index], spec.datatype, shape)
        else:
            arrays[name] = _from_contents(name, tensor, spec.datatype, shape)
    names: list[str] | None = None
    if request.outputs:
        names = []
        for output in request.outputs:
            parameters = output.parameters
            if "classification" in parameters and parameters["classification"].int64_param:
                raise BadRequest(f"output {output.name!r}: the classification extension is not supported")
            names.append(output.name)
    return GrpcInferRequest(request.id, arrays, names, bool(raw_contents))


#: The widest numpy type of each kind: typed contents are read into it, range-checked, then narrowed.
_WIDE: Final = {"f": np.float64, "i": np.int64, "u": np.uint64, "b": np.bool_}


def _from_contents(name: str, tensor: Any, datatype: str, shape: list[int]) -> Array:
    field = CONTENTS_FIELD.get(datatype)
    dtype: np.dtype[Any] | None = V2_TO_NUMPY.get(datatype)
    if field is None or dtype is None:
        raise BadRequest(f"input {name!r}: datatype {datatype} must be sent in raw_input_contents")
    values = getattr(tensor.contents, field)
    count = int(np.prod(shape, dtype=np.int64))
    if len(values) != count:
        raise BadRequest(
            f"input {name!r}: shape {shape} needs {count} elements but contents.{field} has {len(values)}"
        )
    if datatype == "BYTES":
        try:
            items = [bytes(v).decode("utf-8") for v in values]
        except UnicodeDecodeError as exc:
            raise BadRequest(f"input {name!r}: a BYTES element is not valid UTF-8: {exc}") from exc
        return np.array(items, dtype=np.object_).reshape(shape)
    wide = np.array(values, dtype=_WIDE.get(dtype.kind))
    if dtype.kind in "iu" and wide.size:
        info = np.iinfo(dtype)
        if wide.min() < info.min or wide.max() > info.max:
            raise BadRequest(f"input {name!r}: values are out of range for {datatype}")
    return wide.astype(dtype).reshape(shape)


def encode_infer_response(
    model_name: str, model_version: str | None, request_id: str, outputs: Mapping[str, Array], raw: bool
) -> Any:
    """A ``ModelInferResponse``: raw contents when ``raw``, else typed contents (FP16 always raw, which
    makes every output raw, as the protocol requires one form per response)."""
    response = message_classes()["ModelInferResponse"](
        model_name=model_name, model_version=model_version or "", id=request_id
    )
    raw = raw or any(numpy_to_v2(a.dtype) not in CONTENTS_FIELD for a in outputs.values())
    for name, array in outputs.items():
        datatype = numpy_to_v2(array.dtype)
        tensor = response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
        if raw:
            response.raw_output_contents.append(array_to_raw(array))
            continue
        flat = array.reshape(-1)
        values = getattr(tensor.contents, CONTENTS_FIELD[datatype])
        if datatype == "BYTES":
            values.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist())
        else:
            values.extend(flat.tolist())
    return response
