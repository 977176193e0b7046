"""Thin kopf glue: start-up settings, then every trigger calls Reconciler.reconcile.

Triggers (level-based, as kopf's docs recommend): every watch event of a ModelDeployment, every watch
event of a Deployment the operator manages (so status follows pod readiness), and a requeuer that
reconciles a ModelDeployment whenever its last reconcile asked to be run again (a pause ends, an
analysis is due) or the resync interval passed. Handlers return None: kopf would otherwise store
return values in status.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from glidepath import naming
from glidepath.k8s import CLUSTER_KOPF_PEERING, KOPF_PEERING, Kube, KubeError, connect
from glidepath.metrics import Recorder
from glidepath.reconcile import Reconciler, Settings

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
"""How often the requeuer looks for ModelDeployments whose reconcile is due."""


def settings_from_env() -> Settings:
    """Operator settings from the environment: GLIDEPATH_RUNTIME_IMAGE, GLIDEPATH_CLUSTER_DOMAIN,
    GLIDEPATH_PROMETHEUS_URL, GLIDEPATH_RESYNC_SECONDS."""
    defaults = Settings()
    return Settings(
        runtime_image=os.environ.get("GLIDEPATH_RUNTIME_IMAGE", defaults.runtime_image),
        cluster_domain=os.environ.get("GLIDEPATH_CLUSTER_DOMAIN", defaults.cluster_domain),
        prometheus_url=os.environ.get("GLIDEPATH_PROMETHEUS_URL") or None,
        resync_seconds=float(os.environ.get("GLIDEPATH_RESYNC_SECONDS", defaults.resync_seconds)),
    )


@dataclass(frozen=True)
class Peering:
    """This instance's kopf peering: the peering object's name, our identity and priority, and where
    the object lives (a ClusterKopfPeering, or a KopfPeering in ``namespace``). None: standalone."""

    name: str
    identity: str
    priority: int
    namespace: str | None = None


PEERING: Peering | None = None
"""Set by ``glidepath run`` before kopf starts."""
NAMESPACES: tuple[str, ...] = ()
"""The namespaces ``glidepath run -n`` watches; empty: cluster-wide."""


class PeeringGate:
    """Whether this instance is the active one, by kopf's own rule: no live peer in the peering
    object has a priority higher than or equal to ours. kopf pauses its watches by that rule; the
    Requeuer, which runs beside kopf, asks this gate so a standby instance stays idle too.
    The peering object is read at most every ``ttl`` seconds."""

    def __init__(self, kube: Kube, peering: Peering | None, ttl: float = 2.0) -> None:
        self.kube, self.peering, self.ttl = kube, peering, ttl
        self._checked = 0.0
        self._active = peering is None

    def active(self) -> bool:
        peering = self.peering
        if peering is None:
            return True
        now = time.monotonic()
        if now - self._checked < self.ttl:
            return self._active
        self._checked = now
        rtype = KOPF_PEERING if peering.namespace is not None else CLUSTER_KOPF_PEERING
        try:
            obj = self.kube.get(rtype, peering.namespace, peering.name)
        except KubeError:
            log.warning(
                "cannot read peering %s; staying %s", peering.name, "active" if self._active else "idle"
            )
            return self._active
        if obj is None:
            self._active = False  # kopf too waits for the peering object
            return False
        self._active = outranks_peers(
            obj.get("status") or {}, peering.identity, peering.priority, datetime.now(UTC)
        )
        return self._active


def outranks_peers(status: Mapping[str, Any], identity: str, priority: int, now: datetime) -> bool:
    """Whether ``identity`` is the active instance by kopf's rule, from a peering object's ``status``.

    ``status`` maps peer identities to ``{"priority": int, "lifetime": seconds, "lastseen": ISO 8601}``,
    the records kopf writes (absent fields default as kopf does: priority 0, lifetime 60 s, last seen
    now). A peer is alive until ``lastseen + lifetime``; we are active when no other live peer has a
    priority higher than or equal to ours. ``now`` must be timezone-aware. A record that cannot be
    parsed counts as a live rival: staying idle is the safe side.
    """
    for pid, info in status.items():
        if pid == identity:
            continue
        try:
            record = info if isinstance(info, Mapping) else {}
            seen = record.get("lastseen")
            lastseen = datetime.fromisoformat(seen) if seen is not None else now
            if lastseen.tzinfo is None:
                lastseen = lastseen.replace(tzinfo=UTC)
            alive = lastseen + timedelta(seconds=int(record.get("lifetime", 60))) > now
            rival = alive and int(record.get("priority", 0)) >= priority
        except (TypeError, ValueError):
            rival = True
        if rival:
            return False
    return True


class Requeuer:
    """Reconciles every known ModelDeployment whose requeue time has come (a step's pause ends, an
    analysis is due, the resync interval passed), from one background thread and a small pool.

    A kopf timer or daemon would do the same but makes kopf put a finalizer on every
    ModelDeployment, which blocks deleting one while the operator is down; this does not.
    """

    def __init__(self, reconciler: Reconciler, gate: PeeringGate, workers: int = 4) -> None:
        self.reconciler = reconciler
        self.gate = gate
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glidepath-requeue")
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="glidepath-requeuer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            if not self.gate.active():
                continue
            for key in self.reconciler.due_keys():
                with self._lock:
                    if key in self._running:
                        continue
                    self._running.add(key)
                self._pool.submit(self._run, key)

    def _run(self, key: tuple[str, str]) -> None:
        try:
            self.reconciler.reconcile(*key)
        except Exception:  # logged; the next due time retries
            log.exception("reconcile of %s/%s failed", *key)
        finally:
            with self._lock:
                self._running.discard(key)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Build the client and reconciler once; tune kopf to stay out of the user's objects."""
    settings.posting.level = logging.WARNING
    if NAMESPACES:
        settings.scanning.disabled = True  # namespaced: no cluster-wide list of namespaces or CRDs
    settings.watching.server_timeout = 300
    settings.persistence.finalizer = f"{naming.GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=naming.GROUP, key="last-handled-configuration"
    )
    recorder = Recorder()
    port = os.environ.get("GLIDEPATH_METRICS_PORT")
    if port:
        recorder.serve(int(port), addr=os.environ.get("GLIDEPATH_METRICS_ADDR", "0.0.0.0"))
    reconciler = Reconciler(connect(os.environ.get("KUBECONFIG")), settings_from_env(), recorder)
    memo["reconciler"] = reconciler
    memo["requeuer"] = requeuer = Requeuer(reconciler, PeeringGate(reconciler.kube, PEERING))
    requeuer.start()


@kopf.on.cleanup()
def close(memo: kopf.Memo, **_: Any) -> None:
    """Release the API client's connections."""
    requeuer: Requeuer | None = memo.get("requeuer")
    if requeuer is not None:
        requeuer.stop()
    reconciler: Reconciler | None = memo.get("reconciler")
    if reconciler is not None:
        reconciler.kube.close()


def _reconcile(memo: kopf.Memo, namespace: str | None, name: str | None) -> None:
    if namespace is None or name is None:
        return
    reconciler: Reconciler = memo["reconciler"]
    reconciler.reconcile(namespace, name)


@kopf.on.event(naming.GROUP, naming.VERSION, naming.PLURAL)
def on_model_deployment(
    type: str | None, namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """Any change of a ModelDeployment (and the initial listing at start-up): reconcile it."""
    if type == "DELETED":
        if namespace is not None and name is not None:
            memo["reconciler"].forget(namespace, name)
        return
    _reconcile(memo, namespace, name)


@kopf.on.event("apps", "v1", "deployments", labels={naming.LABEL_MANAGED_BY: naming.MANAGED_BY})
def on_child_deployment(
    type: str | None, namespace: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any
) -> None:
    """A managed Deployment changed (pods became ready, someone edited it): reconcile its owner."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == naming.KIND and str(ref.get("apiVersion", "")).startswith(f"{naming.GROUP}/"):
            _reconcile(memo, namespace, ref.get("name"))
