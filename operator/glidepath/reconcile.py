"""The one orchestrator: read -> parse spec -> observe -> analyze -> decide -> render -> apply -> prune
-> status -> events.

Level-based: each call converges one ModelDeployment toward its spec from whatever state it finds,
so it runs on every watch event and on a timer. It never writes the spec; it writes status once, and
only when it changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from glidepath import naming
from glidepath.api import (
    ConditionType,
    MetricResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    PodSource,
    SpecError,
    parse_spec,
)
from glidepath.k8s import (
    CHILD_TYPES,
    HTTP_ROUTE,
    SERVICE_MONITOR,
    Kube,
    KubeError,
    ResourceType,
    apply_all,
    child_key,
    get_model_deployment,
    observe,
    prune,
    record_event,
    write_status,
)
from glidepath.metrics import Recorder
from glidepath.plan import Revision
from glidepath.prom import Prometheus, PrometheusError
from glidepath.render import Owner, RenderConfig, render, revision_for
from glidepath.rollout import (
    Decision,
    Event,
    Outcome,
    QueryContext,
    QueryError,
    Requests,
    analysis_due,
    compute_status,
    decide,
    judge,
    render_query,
)

log = logging.getLogger(__name__)

MISSING_RECHECK_SECONDS = 5.0
"""How long "this CRD is not installed" is believed for a kind a spec asks for (see Reconciler.served)."""


@dataclass(frozen=True)
class Settings:
    """Operator settings.

    runtime_image: default image of the runtime and fetcher containers.
    cluster_domain: DNS suffix used in ``status.url``.
    prometheus_url: Prometheus for canary analysis when the spec names none (None: analysis is
        inconclusive until one is set).
    discovery_ttl: seconds to cache "is this CRD installed".
    resync_seconds: how long a ModelDeployment may go without a reconcile when nothing is due.
    """

    runtime_image: str = RenderConfig.runtime_image
    cluster_domain: str = "cluster.local"
    prometheus_url: str | None = None
    discovery_ttl: float = 60.0
    resync_seconds: float = 30.0


@dataclass(frozen=True)
class Result:
    """What one reconcile did: objects applied, pruned, whether status was written, Events posted,
    and in how many seconds it wants to run again (None: at the next resync)."""

    found: bool
    applied: int = 0
    pruned: list[tuple[str, str, str]] = field(default_factory=list)
    status_written: bool = False
    events: list[str] = field(default_factory=list)
    requeue_after: float | None = None


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
        self._due: dict[tuple[str, str], float] = {}
        self._guard = threading.Lock()
        self._discovery: dict[str, tuple[float, bool]] = {}
        self._prometheus: dict[str, Prometheus] = {}

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    def served(self, rtype: ResourceType, wanted: bool = False) -> bool:
        """Whether the API server serves this kind (its CRD is installed), cached ``discovery_ttl``
        seconds; a "no" for a kind the spec asks for (``wanted``) is cached at most
        MISSING_RECHECK_SECONDS, so installing the CRD is noticed at the next reconcile."""
        now = time.monotonic()
        cached = self._discovery.get(rtype.api_version + "/" + rtype.plural)
        ttl = self.settings.discovery_ttl
        if wanted and cached is not None and not cached[1]:
            ttl = min(ttl, MISSING_RECHECK_SECONDS)
        if cached is None or now - cached[0] > ttl:
            cached = (now, self.kube.has_api(rtype.api_version, rtype.plural))
            self._discovery[rtype.api_version + "/" + rtype.plural] = cached
        return cached[1]

    def due_keys(self) -> list[tuple[str, str]]:
        """(namespace, name) of every ModelDeployment seen whose requeue time or resync has come."""
        now = time.monotonic()
        with self._guard:
            return [key for key, due in self._due.items() if now >= due]

    def forget(self, namespace: str, name: str) -> None:
        """Drop per-object bookkeeping of a deleted ModelDeployment."""
        with self._guard:
            self._due.pop((namespace, name), None)
            self._locks.pop((namespace, name), None)
        self.recorder.forget(namespace, name)

    def reconcile(self, namespace: str, name: str) -> Result:
        """Converge one ModelDeployment. Returns what it did; raises KubeError only for failures of
        reading or of writing status (apply failures become the Degraded condition)."""
        started = time.perf_counter()
        label = "error"
        result: Result | None = None
        try:
            with self._lock(namespace, name):
                result = self._reconcile(namespace, name)
            label = "ok"
            return result
        finally:
            delay = (
                self.settings.resync_seconds
                if result is None
                else result.requeue_after or self.settings.resync_seconds
            )
            with self._guard:
                self._due[(namespace, name)] = time.monotonic() + min(delay, self.settings.resync_seconds)
            self.recorder.reconciles.labels(label).inc()
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
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError as exc:
            observation = observe(self.kube, namespace, name)
            outcome = Outcome(url=url, error=str(exc), error_reason="InvalidSpec")
            status = compute_status(generation, observation, None, outcome, previous, self._clock())
            return self._finish(body, previous, status, [], [], 0, None)

        gateway = spec.rollout.traffic.mode == "gatewayAPI"
        config = RenderConfig(
            runtime_image=self.settings.runtime_image,
            cluster_domain=self.settings.cluster_domain,
            service_monitor_supported=self.served(
                SERVICE_MONITOR, wanted=spec.monitoring.service_monitor.enabled
            ),
            http_route_supported=gateway and self.served(HTTP_ROUTE, wanted=True),
        )
        source = PodSource.of(spec)
        desired = Revision(source, revision_for(owner, source, config))
        stable_source = previous.stable.source if previous.stable is not None else None
        stable = (
            Revision(stable_source, revision_for(owner, stable_source, config)) if stable_source else None
        )

        observation = observe(self.kube, namespace, name)
        now = self._clock()
        analysis = (
            self._analyze(spec, namespace, name)
            if analysis_due(spec, desired.revision, previous, now)
            else None
        )
        requests = Requests.from_annotations(meta.get("annotations"))
        decision = decide(spec, desired, stable, previous, observation, analysis, requests, now)
        manifests = render(owner, spec, decision.plan, config)

        sm = spec.monitoring.service_monitor
        outcome = Outcome(
            url=url,
            service_monitor="disabled"
            if not sm.enabled
            else "applied"
            if config.service_monitor_supported
            else "skipped",
        )
        if gateway and not config.http_route_supported:
            outcome = Outcome(
                url=url,
                error="spec.rollout.traffic.mode is gatewayAPI but the gateway.networking.k8s.io/v1 HTTPRoute CRD "
                "is not installed",
                error_reason="HTTPRouteCRDMissing",
                service_monitor=outcome.service_monitor,
            )
        pruned: list[tuple[str, str, str]] = []
        try:
            apply_all(self.kube, manifests)
            for m in manifests:
                self.recorder.child_writes.labels(m["kind"], "apply").inc()
            kinds = [
                t
                for t in CHILD_TYPES
                if (t is not SERVICE_MONITOR or config.service_monitor_supported)
                and (t is not HTTP_ROUTE or self.served(HTTP_ROUTE))
            ]
            pruned = prune(self.kube, namespace, name, owner.uid, {child_key(m) for m in manifests}, kinds)
            for _, kind, _ in pruned:
                self.recorder.child_writes.labels(kind, "prune").inc()
        except KubeError as exc:
            log.warning("apply of %s/%s failed: %s", namespace, name, exc)
            outcome = Outcome(
                url=url,
                error=f"apply refused: {exc.message}",
                error_reason="ApplyFailed",
                service_monitor=outcome.service_monitor,
            )
        status = compute_status(generation, observation, decision, outcome, previous, now)
        return self._finish(body, previous, status, decision.events, pruned, len(manifests), decision)

    def _finish(
        self,
        body: dict[str, Any],
        previous: ModelDeploymentStatus,
        status: ModelDeploymentStatus,
        rollout_events: list[Event],
        pruned: list[tuple[str, str, str]],
        applied: int,
        decision: Decision | None,
    ) -> Result:
        meta = body["metadata"]
        self.recorder.record_status(meta["namespace"], meta["name"], status)
        written = False
        if status != previous:
            write_status(self.kube, meta["namespace"], meta["name"], status.to_wire())
            written = True
        events = self._events(body, previous, status, rollout_events, pruned)
        return Result(
            found=True,
            applied=applied,
            pruned=pruned,
            status_written=written,
            events=events,
            requeue_after=decision.requeue_after if decision is not None else None,
        )

    def _analyze(self, spec: ModelDeploymentSpec, namespace: str, name: str) -> list[MetricResult]:
        """Query every analysis metric for the canary track; failures to query are Inconclusive."""
        analysis = spec.rollout.analysis
        assert analysis is not None
        address = (
            analysis.prometheus.address if analysis.prometheus is not None else self.settings.prometheus_url
        )
        if address is None:
            why = "no Prometheus address: set spec.rollout.analysis.prometheus.address or GLIDEPATH_PROMETHEUS_URL"
            return [judge(m, None, why) for m in analysis.metrics]
        prom = self._prometheus.setdefault(address, Prometheus(address))
        ctx = QueryContext(
            name=name,
            namespace=namespace,
            track="canary",
            interval=analysis.interval,
            runtime=spec.runtime.name,
        )
        results = []
        for metric in analysis.metrics:
            try:
                value = prom.query(render_query(metric, ctx))
            except (QueryError, PrometheusError) as exc:
                results.append(judge(metric, None, str(exc)))
            else:
                results.append(judge(metric, value))
        return results

    def _events(
        self,
        body: dict[str, Any],
        previous: ModelDeploymentStatus,
        status: ModelDeploymentStatus,
        rollout_events: list[Event],
        pruned: list[tuple[str, str, str]],
    ) -> list[str]:
        """Post the rollout's Events, one for each condition that changed status or reason, and one
        for each pruned child. Returns the reasons posted."""
        events = list(rollout_events)
        for cond in status.conditions:
            old = previous.condition(cond.type)
            if old is not None and (old.status, old.reason) == (cond.status, cond.reason):
                continue
            if old is None and cond.type == ConditionType.DEGRADED and cond.status == "False":
                continue  # a healthy first reconcile says nothing about degradation
            if cond.type == ConditionType.PROGRESSING:
                continue  # the rollout's own Events say more
            warn = (cond.type, cond.status) in {
                (ConditionType.DEGRADED, "True"),
                (ConditionType.SERVICE_MONITOR, "False"),
            }
            events.append(
                Event(
                    "Warning" if warn else "Normal",
                    cond.reason,
                    cond.message or f"{cond.type} is {cond.status}",
                )
            )
        events += [
            Event("Normal", "Pruned", f"deleted {kind} {child}: no longer desired")
            for _, kind, child in pruned
        ]
        for event in events:
            record_event(self.kube, body, event.type, event.reason, event.message)
        return [e.reason for e in events]
