"""The protocol-neutral service: the served models, their readiness and their queues.

The REST router (:mod:`glidepath_runtime.rest`) and the gRPC servicer (:mod:`glidepath_runtime.grpc`)
both answer from one :class:`InferenceService`, so health, readiness, lookups and errors mean the same
on every protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from glidepath_runtime.errors import NotFound, NotReady
from glidepath_runtime.metrics import ModelMetrics, RuntimeMetrics
from glidepath_runtime.model import Model
from glidepath_runtime.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model with its scheduler and metric series."""

    model: Model
    scheduler: Scheduler
    metrics: ModelMetrics


class InferenceService:
    """The models one server serves (usually one), by name.

    Args:
        models: the served models; names must be unique.
        metrics: the server's metric families.
    """

    def __init__(self, models: list[ServedModel], metrics: RuntimeMetrics) -> None:
        if not models:
            raise ValueError("a server needs at least one model")
        self.models = {served.model.name: served for served in models}
        if len(self.models) != len(models):
            raise ValueError(f"model names must be unique, got {[s.model.name for s in models]}")
        self.metrics = metrics
        #: The first model: requests that name no served model are counted in its series.
        self.default = models[0]
        #: Set on SIGTERM: readiness turns false at once while requests are still answered.
        self.shutting_down = False
        for served in models:
            served.metrics.track_ready(self._ready_check(served.model))

    def _ready_check(self, model: Model) -> Callable[[], bool]:
        return lambda: model.ready and not self.shutting_down

    def ready(self) -> bool:
        """Server readiness: every model loaded and not shutting down."""
        return not self.shutting_down and all(served.model.ready for served in self.models.values())

    def lookup(self, name: str) -> ServedModel | None:
        """The model served as ``name``, or None."""
        return self.models.get(name)

    def find(self, name: str, version: str | None) -> ServedModel:
        """The model served as ``name`` (and ``version``, when given and not empty).

        Raises:
            NotFound: no such model or version.
        """
        served = self.models.get(name)
        if served is None:
            raise NotFound(f"unknown model {name!r}; this server serves {sorted(self.models)}")
        if version and version != served.model.version:
            raise NotFound(
                f"unknown version {version!r} of model {name!r}; it serves versions {served.model.versions}"
            )
        return served

    def is_ready(self, served: ServedModel) -> bool:
        """Model readiness: loaded and the server not shutting down."""
        return served.model.ready and not self.shutting_down

    def require_loaded(self, served: ServedModel) -> None:
        """Raise NotReady unless ``served`` is loaded. Inference goes on while the server shuts down
        (readiness is false then, but requests keep arriving until the endpoints are updated)."""
        model = served.model
        if not model.ready:
            state = f"failed to load: {model.load_error}" if model.load_error else "loading"
            raise NotReady(f"model {model.name!r} is not ready ({state})")

    def readiness_error(self, served: ServedModel | None = None) -> NotReady:
        """Why the server (or ``served``) is not ready."""
        if self.shutting_down:
            return NotReady("the server is shutting down")
        for candidate in [served] if served is not None else list(self.models.values()):
            assert candidate is not None
            model = candidate.model
            if not model.ready:
                state = f"failed to load: {model.load_error}" if model.load_error else "loading"
                return NotReady(f"model {model.name!r} is not ready ({state})")
        return NotReady("not ready")
