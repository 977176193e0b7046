"""The one orchestrator: read -> parse spec -> render -> apply -> prune -> observe -> status -> events.

Level-based: each call converges one ModelDeployment toward its spec from whatever state it finds,
so it can run on every watch event and on a timer. It never writes the spec; it writes status once,
and only when it changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from glidepath import naming
from glidepath.api import ConditionType, ModelDeploymentSpec, ModelDeploymentStatus, SpecError, parse_spec
from glidepath.k8s import (
    SERVICE_MONITOR,
    Kube,
    KubeError,
    apply_all,
    child_key,
    get_model_deployment,
    observe,
    prune,
    record_event,
    write_status,
)
from glidepath.metrics import Recorder
from glidepath.render import Owner, RenderConfig, render
from glidepath.rollout import Outcome, compute_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Operator settings.

    runtime_image: default image of the runtime and fetcher containers.
    cluster_domain: DNS suffix used in ``status.url``.
    discovery_ttl: seconds to cache "is the ServiceMonitor CRD installed".
    """

    runtime_image: str = RenderConfig.runtime_image
    cluster_domain: str = "cluster.local"
    discovery_ttl: float = 60.0


@dataclass(frozen=True)
class Result:
    """What one reconcile did: objects applied, pruned, whether status was written, Events posted."""

    found: bool
    applied: int = 0
    pruned: list[tuple[str, str, str]] = field(default_factory=list)
    status_written: bool = False
    events: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Reconciler:
    """Reconciles ModelDeployments through one Kube client. Safe to call from several threads:
    calls for the same object are serialized."""

    def __init__(
        self,
        kube: Kube,
        settings: Settings | None = None,
        recorder: Recorder | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.kube = kube
        self.settings = settings or Settings()
        self.recorder = recorder or Recorder()
        self._clock = clock
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._sm_cache: tuple[float, bool] | None = None

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    def service_monitor_supported(self) -> bool:
        """Whether monitoring.coreos.com/v1 ServiceMonitor is served, cached for ``discovery_ttl`` seconds."""
        now = time.monotonic()
        if self._sm_cache is None or now - self._sm_cache[0] > self.settings.discovery_ttl:
            self._sm_cache = (now, self.kube.has_api(SERVICE_MONITOR.api_version, SERVICE_MONITOR.plural))
        return self._sm_cache[1]

    def reconcile(self, namespace: str, name: str) -> Result:
        """Converge one ModelDeployment. Returns what it did; raises KubeError only for failures of
        reading or of writing status (apply failures become the Degraded condition)."""
        started = time.perf_counter()
        result_label = "error"
        try:
            with self._lock(namespace, name):
                result = self._reconcile(namespace, name)
            result_label = "ok"
            return result
        finally:
            self.recorder.reconciles.labels(result_label).inc()
            self.recorder.duration.observe(time.perf_counter() - started)

    def _reconcile(self, namespace: str, name: str) -> Result:
        body = get_model_deployment(self.kube, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return Result(found=False)  # children go with it through ownerReferences
        meta = body["metadata"]
        owner = Owner(name=name, namespace=namespace, uid=meta["uid"])
        generation = int(meta.get("generation", 1))
        previous = ModelDeploymentStatus.model_validate(body.get("status") or {})
        url = naming.service_url(name, namespace, self.settings.cluster_domain)

        spec: ModelDeploymentSpec | None = None
        applied = 0
        pruned: list[tuple[str, str, str]] = []
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError as exc:
            outcome = Outcome(revision=None, url=url, error=str(exc), error_reason="InvalidSpec")
        else:
            sm_supported = self.service_monitor_supported()
            config = RenderConfig(
                runtime_image=self.settings.runtime_image,
                cluster_domain=self.settings.cluster_domain,
                service_monitor_supported=sm_supported,
            )
            rendered = render(owner, spec, config)
            sm_state = (
                "disabled"
                if not spec.monitoring.service_monitor.enabled
                else "skipped"
                if rendered.service_monitor_skipped
                else "applied"
            )
            outcome = Outcome(revision=rendered.revision, url=url, service_monitor=sm_state)
            try:
                apply_all(self.kube, rendered.manifests)
                applied = len(rendered.manifests)
                for m in rendered.manifests:
                    self.recorder.child_writes.labels(m["kind"], "apply").inc()
                keep = {child_key(m) for m in rendered.manifests}
                pruned = prune(self.kube, namespace, name, owner.uid, keep, service_monitors=sm_supported)
                for _, kind, _ in pruned:
                    self.recorder.child_writes.labels(kind, "prune").inc()
            except KubeError as exc:
                log.warning("apply of %s/%s failed: %s", namespace, name, exc)
                outcome = Outcome(
                    revision=rendered.revision,
                    url=url,
                    error=f"apply refused: {exc.message}",
                    error_reason="ApplyFailed",
                    service_monitor=sm_state,
                )

        observation = observe(self.kube, namespace, name)
        status = compute_status(spec, generation, observation, outcome, previous, self._clock())
        written = False
        if status != previous:
            write_status(self.kube, namespace, name, status.to_wire())
            written = True
        events = self._events(body, previous, status, pruned)
        return Result(found=True, applied=applied, pruned=pruned, status_written=written, events=events)

    def _events(
        self,
        body: dict[str, object],
        previous: ModelDeploymentStatus,
        status: ModelDeploymentStatus,
        pruned: list[tuple[str, str, str]],
    ) -> list[str]:
        """Post an Event for each condition that changed status or reason, and for each pruned child."""
        posted: list[str] = []
        for cond in status.conditions:
            old = previous.condition(cond.type)
            if old is not None and (old.status, old.reason) == (cond.status, cond.reason):
                continue
            if old is None and cond.type == ConditionType.DEGRADED and cond.status == "False":
                continue  # a healthy first reconcile says nothing about degradation
            warn = (cond.type, cond.status) in {
                (ConditionType.DEGRADED, "True"),
                (ConditionType.SERVICE_MONITOR, "False"),
            }
            type_ = "Warning" if warn else "Normal"
            message = cond.message or f"{cond.type} is {cond.status}"
            record_event(self.kube, body, type_, cond.reason, message)
            posted.append(cond.reason)
        for _, kind, child in pruned:
            record_event(
                self.kube, body, "Normal", "Pruned", f"deleted {kind} {child}: no longer in the spec"
            )
            posted.append("Pruned")
        return posted
