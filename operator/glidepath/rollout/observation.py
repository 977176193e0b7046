"""What the operator saw of the cluster, as plain data the pure layers can decide on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glidepath import naming


@dataclass(frozen=True)
class TrackObservation:
    """The live Deployment of one track.

    desired: spec.replicas as the API server holds it (set by us, or by the HPA).
    replicas / updated / ready / available: the Deployment's status counters (pods).
    revision: the ``serving.glidepath.io/revision`` annotation of its pod template.
    synced: the Deployment controller has observed the latest Deployment spec.
    deadline_exceeded: the Deployment's Progressing condition says ProgressDeadlineExceeded.
    """

    revision: str | None
    desired: int
    replicas: int
    updated: int
    ready: int
    available: int
    synced: bool
    deadline_exceeded: bool

    @property
    def available_all(self) -> bool:
        """Every desired pod is available (of whichever revision): the track serves at full capacity."""
        return self.synced and self.available >= self.desired

    @property
    def rolled_out(self) -> bool:
        """Every desired pod runs the latest template and is available, and no old pod is left."""
        return (
            self.synced
            and self.updated >= self.desired
            and self.available >= self.desired
            and self.replicas == self.updated
        )

    @classmethod
    def from_deployment(cls, deployment: dict[str, Any]) -> TrackObservation:
        """Read a Deployment object (as JSON) into a TrackObservation."""
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        meta = deployment.get("metadata") or {}
        template_meta = (spec.get("template") or {}).get("metadata") or {}
        conditions = status.get("conditions") or []
        deadline = any(
            c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
            for c in conditions
        )
        return cls(
            revision=(template_meta.get("annotations") or {}).get(naming.ANNOTATION_REVISION),
            desired=int(spec.get("replicas", 1)),
            replicas=int(status.get("replicas", 0)),
            updated=int(status.get("updatedReplicas", 0)),
            ready=int(status.get("readyReplicas", 0)),
            available=int(status.get("availableReplicas", 0)),
            synced=int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 1)),
            deadline_exceeded=deadline,
        )


@dataclass(frozen=True)
class Observation:
    """The tracks' Deployments as reconcile found them; None where a Deployment does not exist."""

    stable: TrackObservation | None
    canary: TrackObservation | None = None
