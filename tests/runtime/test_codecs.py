"""Property tests of the tensor codecs (Hypothesis): every datatype, odd shapes (zero-sized, rank 0 to
4), JSON and binary, REST and gRPC. Round trips are exact; garbage never raises anything but BadRequest."""

from __future__ import annotations

import contextlib
import json
import struct
from typing import Any

import numpy as np
import orjson
from glidepath_runtime.datatypes import V2_TO_NUMPY, array_to_raw, raw_to_array
from glidepath_runtime.errors import BadRequest
from glidepath_runtime.model import TensorSpec
from glidepath_runtime.protocols import grpc_v2, tfserving, v2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DATATYPES = [d for d in V2_TO_NUMPY if d != "BYTES"]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


@st.composite
def tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    """(datatype, array) for any datatype, with NaN and infinities only where JSON can carry them."""
    datatype = draw(st.sampled_from([*DATATYPES, "BYTES"]))
    shape = draw(shapes)
    if datatype == "BYTES":
        count = int(np.prod(shape))
        return datatype, np.array(
            draw(st.lists(text, min_size=count, max_size=count)), dtype=np.object_
        ).reshape(shape)
    dtype = V2_TO_NUMPY[datatype]
    elements = None
    if dtype.kind == "f":
        elements = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return datatype, draw(hnp.arrays(dtype, shape, elements=elements))


def spec(name: str, datatype: str, array: np.ndarray) -> dict[str, TensorSpec]:
    return {name: TensorSpec(name, datatype, tuple(-1 for _ in array.shape))}


@FAST
@given(tensors(), st.booleans(), st.booleans())
def test_v2_round_trip(tensor: tuple[str, np.ndarray], binary_in: bool, nested: bool) -> None:
    datatype, array = tensor
    entry: dict[str, Any] = {"name": "t", "shape": list(array.shape), "datatype": datatype}
    if binary_in:
        raw = array_to_raw(array)
        entry["parameters"] = {"binary_data_size": len(raw)}
        header = orjson.dumps(
            {"inputs": [entry], "outputs": [{"name": "t", "parameters": {"binary_data": True}}]}
        )
        body, length = header + raw, len(header)
    else:
        data = array.tolist() if nested and array.ndim else array.reshape(-1).tolist()
        entry["data"] = data if array.ndim else [data] if not isinstance(data, list) else data
        body, length = json.dumps({"inputs": [entry]}).encode(), None
    request = v2.decode_infer_request(body, spec("t", datatype, array), length)
    decoded = request.inputs["t"]
    assert decoded.shape == array.shape
    if datatype == "BYTES":
        assert decoded.reshape(-1).tolist() == array.reshape(-1).tolist()
    else:
        assert decoded.dtype == array.dtype
        np.testing.assert_array_equal(decoded, array)
    payload, header_length = v2.encode_infer_response("m", "1", "id", {"t": decoded}, request)
    if header_length is None:
        output = orjson.loads(payload)["outputs"][0]
        back = np.asarray(output["data"], dtype=np.object_ if datatype == "BYTES" else V2_TO_NUMPY[datatype])
    else:
        output = orjson.loads(payload[:header_length])["outputs"][0]
        back = raw_to_array("t", payload[header_length:], datatype, output["shape"])
    assert output["shape"] == list(array.shape)
    assert back.reshape(-1).tolist() == array.reshape(-1).tolist()


@FAST
@given(tensors(), st.booleans())
def test_grpc_round_trip(tensor: tuple[str, np.ndarray], raw: bool) -> None:
    datatype, array = tensor
    if datatype == "FP16" and not raw:
        raw = True  # FP16 has no typed contents field
    messages = grpc_v2.message_classes()
    request = messages["ModelInferRequest"](model_name="m")
    entry = request.inputs.add(name="t", datatype=datatype, shape=list(array.shape))
    if raw:
        request.raw_input_contents.append(array_to_raw(array))
    else:
        field = getattr(entry.contents, grpc_v2.CONTENTS_FIELD[datatype])
        flat = array.reshape(-1).tolist()
        field.extend([v.encode() for v in flat] if datatype == "BYTES" else flat)
    wire = messages["ModelInferRequest"].FromString(request.SerializeToString())
    decoded = grpc_v2.decode_infer_request(wire, spec("t", datatype, array)).inputs["t"]
    assert decoded.reshape(-1).tolist() == array.reshape(-1).tolist()
    response = grpc_v2.encode_infer_response("m", "1", "", {"t": decoded}, raw)
    response = messages["ModelInferResponse"].FromString(response.SerializeToString())
    out = response.outputs[0]
    if response.raw_output_contents:
        back = raw_to_array("t", response.raw_output_contents[0], datatype, list(out.shape))
        assert back.reshape(-1).tolist() == array.reshape(-1).tolist()
    else:
        values = list(getattr(out.contents, grpc_v2.CONTENTS_FIELD[datatype]))
        want = array.reshape(-1).tolist()
        assert [v.decode() for v in values] == want if datatype == "BYTES" else values == want


@FAST
@given(tensors())
def test_tfserving_columnar_round_trip(tensor: tuple[str, np.ndarray]) -> None:
    datatype, array = tensor
    if array.ndim == 0:
        array = array.reshape(1)
    body = orjson.dumps({"inputs": {"t": array.tolist()}})
    decoded = tfserving.decode_predict_request(body, spec("t", datatype, array))
    got = decoded.inputs["t"]
    assert got.reshape(-1).tolist() == array.reshape(-1).tolist()
    out = orjson.loads(tfserving.encode_predict_response({"t": got}, row_format=False))["outputs"]
    back = np.asarray(out, dtype=np.object_ if datatype == "BYTES" else V2_TO_NUMPY[datatype])
    assert back.reshape(-1).tolist() == array.reshape(-1).tolist()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "inputs": st.lists(
                    st.dictionaries(
                        st.sampled_from(["name", "shape", "datatype", "data", "parameters"]), json_values
                    ),
                    max_size=3,
                )
            },
            optional={"outputs": json_values, "parameters": json_values, "id": json_values},
        ).map(lambda v: json.dumps(v).encode()),
    ),
    st.none() | st.integers(-5, 300),
)
def test_garbage_is_only_ever_bad_request(body: bytes, header_length: int | None) -> None:
    specs = {"t": TensorSpec("t", "FP32", (-1, 2)), "s": TensorSpec("s", "BYTES", (-1,))}
    for decode in (
        lambda: v2.decode_infer_request(
            body,
            specs,
            v2.parse_header_length(None if header_length is None else str(header_length), len(body)),
        ),
        lambda: tfserving.decode_predict_request(body, specs),
    ):
        with contextlib.suppress(BadRequest):
            decode()


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=64),
    st.sampled_from([*DATATYPES, "BYTES"]),
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
)
def test_raw_garbage_is_only_ever_bad_request(raw: bytes, datatype: str, shape: tuple[int, ...]) -> None:
    with contextlib.suppress(BadRequest):
        raw_to_array("t", raw, datatype, list(shape))


def test_bytes_wire_format() -> None:
    array = np.array(["a", "", "é"], dtype=np.object_)
    raw = array_to_raw(array)
    assert raw == struct.pack("<I", 1) + b"a" + struct.pack("<I", 0) + struct.pack("<I", 2) + "é".encode()
    assert raw_to_array("t", raw, "BYTES", [3]).tolist() == ["a", "", "é"]
