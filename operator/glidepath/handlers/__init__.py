"""Thin kopf glue: start-up settings, then every trigger calls Reconciler.reconcile.

Triggers (level-based, as kopf's docs recommend): every watch event of a ModelDeployment, a resync
timer per ModelDeployment, and every watch event of a Deployment the operator manages (so status
follows pod readiness). Handlers return None: kopf would otherwise store return values in status.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from glidepath import naming
from glidepath.k8s import connect
from glidepath.metrics import Recorder
from glidepath.reconcile import Reconciler, Settings

log = logging.getLogger(__name__)

RESYNC_SECONDS = float(os.environ.get("GLIDEPATH_RESYNC_SECONDS", "30"))


def settings_from_env() -> Settings:
    """Operator settings from the environment: GLIDEPATH_RUNTIME_IMAGE, GLIDEPATH_CLUSTER_DOMAIN."""
    defaults = Settings()
    return Settings(
        runtime_image=os.environ.get("GLIDEPATH_RUNTIME_IMAGE", defaults.runtime_image),
        cluster_domain=os.environ.get("GLIDEPATH_CLUSTER_DOMAIN", defaults.cluster_domain),
    )


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Build the client and reconciler once; tune kopf to stay out of the user's objects."""
    settings.posting.level = logging.WARNING
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
    memo["reconciler"] = Reconciler(connect(os.environ.get("KUBECONFIG")), settings_from_env(), recorder)


@kopf.on.cleanup()
def close(memo: kopf.Memo, **_: Any) -> None:
    """Release the API client's connections."""
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
        return
    _reconcile(memo, namespace, name)


@kopf.timer(
    naming.GROUP, naming.VERSION, naming.PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS
)
def resync(namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Periodic resync: repairs drift of children and retries failed applies."""
    _reconcile(memo, namespace, name)


@kopf.on.event("apps", "v1", "deployments", labels={naming.LABEL_MANAGED_BY: naming.MANAGED_BY})
def on_child_deployment(
    type: str | None, namespace: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any
) -> None:
    """A managed Deployment changed (pods became ready, someone edited it): reconcile its owner."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == naming.KIND and str(ref.get("apiVersion", "")).startswith(f"{naming.GROUP}/"):
            _reconcile(memo, namespace, ref.get("name"))
