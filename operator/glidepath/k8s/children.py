"""Apply, prune and observe the children of one ModelDeployment; write its status and Events."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from glidepath import naming
from glidepath.k8s.client import DEPLOYMENT, EVENT, MODEL_DEPLOYMENT, POD, Kube, Obj, ResourceType
from glidepath.rollout import ModelFetch, Observation, TrackObservation

log = logging.getLogger(__name__)

ChildKey = tuple[str, str, str]
"""(apiVersion, kind, name) of one child."""


def child_key(manifest: Obj) -> ChildKey:
    """Identity of a child within its namespace."""
    return (manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])


def apply_all(kube: Kube, manifests: list[Obj]) -> list[Obj]:
    """Server-side apply each manifest in order (field manager ``glidepath``, force); return live objects.

    Raises KubeError at the first manifest the API server refuses; earlier ones stay applied.
    """
    return [kube.apply(m) for m in manifests]


def prune(
    kube: Kube,
    namespace: str,
    owner_name: str,
    owner_uid: str,
    keep: set[ChildKey],
    kinds: Iterable[ResourceType],
) -> list[ChildKey]:
    """Delete children of this owner, of the given ``kinds``, that are not in ``keep``; return what was
    deleted. ``kinds`` must all be served (leave out a kind whose CRD is not installed).

    A child is ours when it has the instance labels and an ownerReference to ``owner_uid``; objects
    that merely share the labels are never touched.
    """
    selector = naming.label_selector(naming.instance_labels(owner_name))
    deleted: list[ChildKey] = []
    for rtype in kinds:
        for obj in kube.list(rtype, namespace, selector):
            meta = obj["metadata"]
            owned = any(ref.get("uid") == owner_uid for ref in meta.get("ownerReferences") or [])
            key = (rtype.api_version, rtype.kind, meta["name"])
            if owned and key not in keep and kube.delete(rtype, namespace, meta["name"], uid=meta.get("uid")):
                log.info("pruned %s %s/%s", rtype.kind, namespace, meta["name"])
                deleted.append(key)
    return deleted


def observe(kube: Kube, namespace: str, owner_name: str) -> Observation:
    """Read the tracks' Deployments, and their pods' fetcher statuses, into an Observation."""
    tracks: dict[str, TrackObservation | None] = {}
    fetches: dict[str, ModelFetch | None] = {}
    for track in naming.TRACKS:
        live = kube.get(DEPLOYMENT, namespace, naming.deployment_name(owner_name, track))
        obs = tracks[track] = TrackObservation.from_deployment(live) if live is not None else None
        fetches[track] = None
        if obs is not None:
            pods = kube.list(POD, namespace, naming.label_selector(naming.selector_labels(owner_name, track)))
            fetches[track] = ModelFetch.from_pods(pods, obs.revision, naming.FETCH_CONTAINER)
    return Observation(
        stable=tracks["stable"],
        canary=tracks["canary"],
        stable_fetch=fetches["stable"],
        canary_fetch=fetches["canary"],
    )


def write_status(kube: Kube, namespace: str, name: str, status: dict[str, Any]) -> Obj:
    """Server-side apply the whole ``status`` through the status subresource (fields we drop are removed)."""
    body = {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "status": status,
    }
    return kube.apply(body, subresource="status")


def record_event(kube: Kube, owner: Obj, type_: str, reason: str, message: str) -> None:
    """Post a core/v1 Event about the ModelDeployment (``kubectl describe md`` shows it).

    type_: Normal or Warning. Failures to post are logged, never raised: an Event is best effort.
    """
    meta = owner["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": owner.get("apiVersion", naming.API_VERSION),
            "kind": naming.KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": naming.FIELD_MANAGER},
        "reportingComponent": naming.FIELD_MANAGER,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        kube.create(EVENT, meta["namespace"], event)
    except Exception:  # an Event must never fail a reconcile
        log.warning(
            "could not post Event %s for %s/%s", reason, meta["namespace"], meta["name"], exc_info=True
        )


def get_model_deployment(kube: Kube, namespace: str, name: str) -> Obj | None:
    """The ModelDeployment as stored, or None when it is gone."""
    return kube.get(MODEL_DEPLOYMENT, namespace, name)
