"""One served model: an ONNX Runtime ``InferenceSession`` plus its Open Inference Protocol signature.

:class:`Model` is protocol-neutral: it takes and returns numpy arrays keyed by tensor name, checks them
against the model's declared inputs, and knows nothing about JSON or HTTP. Codecs in
:mod:`glidepath_runtime.protocols` turn wire formats into those arrays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from glidepath_runtime.config import AUTO_PROVIDERS, GRAPH_OPTIMIZATION_LEVELS, SessionSettings
from glidepath_runtime.datatypes import V2_TO_NUMPY, ort_type_to_v2
from glidepath_runtime.errors import BadRequest, NotReady

log = logging.getLogger(__name__)

#: The Open Inference Protocol ``platform`` of every model this runtime serves.
PLATFORM: Final = "onnxruntime_onnx"

#: A tensor as the model takes and returns it.
Array = npt.NDArray[Any]


class ModelDirError(ValueError):
    """The model directory does not hold exactly one ``*.onnx`` file (or does not exist)."""


def find_model_file(model_dir: Path) -> Path:
    """The single ``*.onnx`` file directly inside ``model_dir``.

    Raises:
        ModelDirError: if ``model_dir`` is not a directory, or holds no ``*.onnx`` file or several
            (the message lists what it found).
    """
    if not model_dir.is_dir():
        raise ModelDirError(f"model directory {model_dir} does not exist or is not a directory")
    found = sorted(p for p in model_dir.glob("*.onnx") if p.is_file())
    if not found:
        present = sorted(p.name for p in model_dir.iterdir())
        raise ModelDirError(
            f"no *.onnx file in model directory {model_dir} (it holds: {present or 'nothing'})"
        )
    if len(found) > 1:
        raise ModelDirError(
            f"several *.onnx files in model directory {model_dir}: {[p.name for p in found]}; "
            "expected exactly one"
        )
    return found[0]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output as the Open Inference Protocol describes it.

    Attributes:
        name: the ONNX graph input/output name.
        datatype: Open Inference Protocol datatype (``FP32``, ``INT64``, ``BYTES`` …).
        shape: dimensions; ``-1`` for a dynamic (symbolic or unknown) dimension.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        """The ``$metadata_tensor`` object of the Open Inference Protocol model metadata response."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def accepts_shape(self, shape: Sequence[int]) -> bool:
        """Whether a concrete ``shape`` fits: same rank, equal wherever this spec's dim is fixed."""
        if len(shape) != len(self.shape):
            return False
        return all(want in (-1, got) for want, got in zip(self.shape, shape))  # noqa: B905 - equal lengths

    @property
    def batch_dim(self) -> bool:
        """Whether the first dimension is dynamic, so tensors can be stacked along it."""
        return len(self.shape) >= 1 and self.shape[0] == -1


@dataclass(frozen=True, slots=True)
class SkippedOutput:
    """A model output that cannot be served as a tensor (e.g. a scikit-learn ZipMap sequence of maps)."""

    name: str
    ort_type: str

    @property
    def reason(self) -> str:
        """Why it is skipped and how to avoid it, for logs and 400 messages."""
        return (
            f"output {self.name!r} has ONNX type {self.ort_type}, not a tensor; the Open Inference "
            "Protocol carries tensors only (for scikit-learn classifiers convert with skl2onnx option "
            "zipmap=False)"
        )


def _dims(shape: Sequence[int | str | None]) -> tuple[int, ...]:
    """ONNX Runtime shape (ints, symbolic names or None) -> Open Inference Protocol dims (-1 dynamic)."""
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


class Model:
    """An ONNX model served under a name and an optional version.

    Construct cheaply, then :meth:`load` (seconds for a large model; the server does it in a worker
    thread so liveness answers meanwhile). Until then :attr:`ready` is false and :meth:`predict`
    raises :class:`~glidepath_runtime.errors.NotReady`.

    Args:
        name: the model name in URLs and responses.
        path: the ``.onnx`` file.
        version: the model version in URLs and responses, or ``None`` for an unversioned model.
        session: ONNX Runtime session options (threads, graph optimization, execution providers).
        intra_op_threads: shorthand that overrides ``session.intra_op_threads``.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        version: str | None = None,
        *,
        session: SessionSettings | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.version = version
        settings = session or SessionSettings()
        if intra_op_threads:
            settings = SessionSettings(
                intra_op_threads,
                settings.inter_op_threads,
                settings.graph_optimization_level,
                settings.execution_providers,
            )
        self.settings = settings
        self.inputs: dict[str, TensorSpec] = {}
        self.outputs: dict[str, TensorSpec] = {}
        self.skipped_outputs: dict[str, SkippedOutput] = {}
        self.providers: list[str] = []
        self.load_error: str | None = None
        self._session: Any = None
        self._lock = threading.Lock()
        self._client_errors: tuple[type[Exception], ...] = ()
        self._batchable = False
        self._run: Any = None

    @property
    def ready(self) -> bool:
        """True once :meth:`load` has succeeded."""
        return self._session is not None

    @property
    def versions(self) -> list[str]:
        """The versions this model answers to (the metadata ``versions`` field)."""
        return [] if self.version is None else [self.version]

    def load(self) -> None:
        """Create the ONNX Runtime session and read the input/output signature. Idempotent.

        Outputs that are not tensors are left out of :attr:`outputs` and recorded in
        :attr:`skipped_outputs` with a warning.

        Raises:
            ValueError: the model has an input that is not a tensor, or no tensor output.
            onnxruntime's exceptions (``InvalidGraph``, ``NoSuchFile``, ``Fail`` …): the file is not a
                loadable ONNX model.
            On failure :attr:`load_error` holds the message.
        """
        with self._lock:
            if self._session is not None:
                return
            try:
                self._load()
            except Exception as exc:
                self.load_error = f"{type(exc).__name__}: {exc}"
                raise

    def _load(self) -> None:
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument, RuntimeException

        settings = self.settings
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.resolved_intra_op_threads()
        options.inter_op_num_threads = settings.resolved_inter_op_threads()
        options.graph_optimization_level = _optimization_level(ort, settings.graph_optimization_level)
        providers = resolve_providers(settings.execution_providers, ort.get_available_providers())
        session = ort.InferenceSession(str(self.path), options, providers=providers)
        inputs: dict[str, TensorSpec] = {}
        for arg in session.get_inputs():
            datatype = ort_type_to_v2(arg.type)
            if datatype is None:
                raise ValueError(f"model input {arg.name!r} has ONNX type {arg.type}, not a tensor")
            inputs[arg.name] = TensorSpec(arg.name, datatype, _dims(arg.shape))
        outputs: dict[str, TensorSpec] = {}
        skipped: dict[str, SkippedOutput] = {}
        for arg in session.get_outputs():
            datatype = ort_type_to_v2(arg.type)
            if datatype is None:
                skipped[arg.name] = SkippedOutput(arg.name, arg.type)
                log.warning("skipping %s", skipped[arg.name].reason)
            else:
                outputs[arg.name] = TensorSpec(arg.name, datatype, _dims(arg.shape))
        if not outputs:
            raise ValueError(f"model {self.path} has no tensor output to serve")
        self.inputs, self.outputs, self.skipped_outputs = inputs, outputs, skipped
        self._batchable = bool(inputs) and all(s.batch_dim for s in [*inputs.values(), *outputs.values()])
        self.providers = list(session.get_providers())
        # Errors ONNX Runtime raises for inputs the graph cannot take (bad values or dims a node
        # rejects): the client's mistake, answered 400. Anything else is a server problem.
        self._client_errors = (InvalidArgument, RuntimeException)
        self._session = session
        # The binding's run: InferenceSession.run re-checks the feed in Python (validate() did) and
        # costs several microseconds per call, a tenth of a small model's run.
        self._run = getattr(session, "_sess", session).run
        log.info(
            "loaded model %s version %s from %s: inputs %s, outputs %s, providers %s, "
            "intra-op threads %d, inter-op threads %d, graph optimization %s",
            self.name,
            self.version,
            self.path,
            [s.metadata() for s in inputs.values()],
            [s.metadata() for s in outputs.values()],
            self.providers,
            options.intra_op_num_threads,
            options.inter_op_num_threads,
            settings.graph_optimization_level,
        )

    @property
    def batchable(self) -> bool:
        """Whether requests can be stacked into one execution: every input and output has a dynamic
        first dimension."""
        return self._batchable

    def check_outputs(self, names: Sequence[str]) -> None:
        """Check requested output names.

        Raises:
            BadRequest: a name is unknown, or names a non-tensor output (the message says why).
        """
        for name in names:
            if name in self.outputs:
                continue
            if name in self.skipped_outputs:
                raise BadRequest(f"requested {self.skipped_outputs[name].reason}")
            raise BadRequest(f"unknown output {name!r}; the model's outputs are {list(self.outputs)}")

    def validate(self, inputs: Mapping[str, Array], output_names: Sequence[str] | None = None) -> list[str]:
        """Check a request's arrays and output names against the model.

        Args:
            inputs: one array per model input, keyed by input name, with the input's numpy dtype and a
                shape that fits its :class:`TensorSpec` (``-1`` dims take any size).
            output_names: the outputs to compute; ``None`` for every tensor output.

        Returns:
            The output names to compute, in the order asked (model order when ``None``).

        Raises:
            NotReady: the model is not loaded.
            BadRequest: an input is missing or unknown, has the wrong dtype or shape, or an output name
                is bad.
        """
        if self._session is None:
            raise NotReady(f"model {self.name!r} is not ready" + self._load_error_suffix())
        for name, spec in self.inputs.items():
            array = inputs.get(name)
            if array is None:
                raise BadRequest(f"missing input {name!r}; the model's inputs are {list(self.inputs)}")
            if not _dtype_fits(array.dtype, spec.datatype):
                raise BadRequest(
                    f"input {name!r}: numpy dtype {array.dtype} does not fit datatype {spec.datatype}"
                )
            if not spec.accepts_shape(array.shape):
                raise BadRequest(
                    f"input {name!r}: shape {list(array.shape)} does not match the model's "
                    f"{list(spec.shape)} (-1 is any size)"
                )
        if len(inputs) != len(self.inputs):
            unknown = sorted(set(inputs) - set(self.inputs))
            raise BadRequest(f"unknown input(s) {unknown}; the model's inputs are {list(self.inputs)}")
        if output_names is None:
            return list(self.outputs)
        names = list(output_names)
        self.check_outputs(names)
        if len(set(names)) != len(names):
            raise BadRequest(f"an output is requested more than once: {names}")
        return names

    def run(self, inputs: Mapping[str, Array], output_names: Sequence[str]) -> list[Array]:
        """Run the model on already validated inputs (see :meth:`validate`); thread-safe.

        Returns:
            One array per name in ``output_names``.

        Raises:
            NotReady: the model is not loaded.
            BadRequest: ONNX Runtime rejects the inputs (a node cannot take their values or dims).
        """
        session = self._session
        if session is None:
            raise NotReady(f"model {self.name!r} is not ready" + self._load_error_suffix())
        try:
            results: list[Array] = self._run(output_names, inputs, None)
        except self._client_errors as exc:
            raise BadRequest(f"ONNX Runtime rejected the inputs: {exc}") from exc
        return results

    def predict(
        self, inputs: Mapping[str, Array], output_names: Sequence[str] | None = None
    ) -> dict[str, Array]:
        """:meth:`validate` then :meth:`run`; returns the outputs keyed by name in the order asked."""
        names = self.validate(inputs, output_names)
        return dict(zip(names, self.run(inputs, names), strict=True))

    def _load_error_suffix(self) -> str:
        return f": load failed: {self.load_error}" if self.load_error else " (loading)"


def _dtype_fits(dtype: np.dtype[Any], datatype: str) -> bool:
    if datatype == "BYTES":
        return dtype.kind in "OU"
    expected = V2_TO_NUMPY.get(datatype)
    return expected is not None and dtype == expected


def resolve_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """ONNX Runtime execution providers to ask for.

    ``["auto"]`` means CUDA when the installed onnxruntime has it (the GPU build), then CPU. Named
    providers are accepted with or without the ``ExecutionProvider`` suffix, case-insensitively
    (``cuda`` -> ``CUDAExecutionProvider``).

    Raises:
        ValueError: a named provider is not available in this onnxruntime build.
    """
    if list(requested) in ([], [AUTO_PROVIDERS]):
        preferred = [p for p in ("CUDAExecutionProvider",) if p in available]
        return [*preferred, "CPUExecutionProvider"]
    by_key = {p.lower().removesuffix("executionprovider"): p for p in available}
    resolved = []
    for name in requested:
        provider = by_key.get(name.lower().removesuffix("executionprovider"))
        if provider is None:
            raise ValueError(
                f"execution provider {name!r} is not available; this onnxruntime has {list(available)}"
            )
        resolved.append(provider)
    return resolved


def _optimization_level(ort: Any, level: str) -> Any:
    if level not in GRAPH_OPTIMIZATION_LEVELS:
        raise ValueError(f"graph optimization level {level!r} is not one of {GRAPH_OPTIMIZATION_LEVELS}")
    return {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
