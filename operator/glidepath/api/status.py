"""ModelDeployment ``status``: what the operator observed and decided. Written only by the operator."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from glidepath.api.base import ApiModel

ConditionStatus = Literal["True", "False", "Unknown"]


class ConditionType(StrEnum):
    """Condition types the operator sets (``metav1.Condition.type``)."""

    READY = "Ready"
    """The stable track serves: every desired pod is up to date and ready."""
    PROGRESSING = "Progressing"
    """Pods are being created or replaced (Deployment rollout or canary)."""
    DEGRADED = "Degraded"
    """Something the user must act on: an invalid spec, an apply the API server refused."""
    SERVICE_MONITOR = "ServiceMonitor"
    """Whether the ServiceMonitor was applied, or skipped because its CRD is not installed."""


class Phase(StrEnum):
    """A one-word summary of the ModelDeployment (``status.phase``)."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    ROLLED_BACK = "RolledBack"
    DEGRADED = "Degraded"


class Condition(ApiModel):
    """One condition in the ``metav1.Condition`` shape."""

    type: str = Field(
        description="Condition type: Ready, Progressing, Degraded, ServiceMonitor.", max_length=316
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="CamelCase reason for the last transition.", min_length=1, max_length=1024
    )
    message: str = Field(default="", description="Human-readable details.", max_length=32768)
    last_transition_time: datetime = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was computed from."
    )


class TrackStatus(ApiModel):
    """What runs on one track (``status.stable``)."""

    revision: str = Field(description="Hash of the rendered pod template this track runs.")
    version: str = Field(description="spec.model.version of that revision.")
    uri: str = Field(description="spec.model.uri of that revision.")
    replicas: int = Field(default=0, ge=0, description="Pods the track's Deployment has.")
    ready_replicas: int = Field(default=0, ge=0, description="Of those, pods that are Ready.")


class ModelDeploymentStatus(ApiModel):
    """``status`` of a ModelDeployment. Written once per reconcile, and only when it changed."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the spec this status describes."
    )
    phase: Phase | None = Field(
        default=None, description="Healthy, Progressing, Paused, RolledBack or Degraded."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded, ServiceMonitor.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    stable: TrackStatus | None = Field(default=None, description="The stable track.")
    url: str | None = Field(default=None, description="In-cluster URL of the model's Service.")

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, or None."""
        return next((c for c in self.conditions if c.type == type_), None)


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None,
) -> list[Condition]:
    """Return ``conditions`` with one condition set, keeping its lastTransitionTime if status is unchanged.

    Pure: the clock is passed in. Order is kept; a new type is appended.
    """
    old = next((c for c in conditions if c.type == type_), None)
    transition = old.last_transition_time if old is not None and old.status == status else now
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    if old is None:
        return [*conditions, new]
    return [new if c.type == type_ else c for c in conditions]
