"""ModelDeployment ``status``: what the operator observed and decided. Written only by the operator."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from glidepath.api.base import ApiModel
from glidepath.api.spec import PodSource

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
    MODEL_READY = "ModelReady"
    """Whether the stable track's fetcher got the model: Fetching, FetchFailed, ChecksumMismatch,
    Verified (sha256 checked) or Fetched (no sha256 to check)."""
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
    """What runs on the stable track (``status.stable``)."""

    revision: str = Field(description="Hash of the rendered pod template this track runs.")
    version: str = Field(description="spec.model.version of that revision.")
    uri: str = Field(description="spec.model.uri of that revision.")
    replicas: int = Field(default=0, ge=0, description="Pods the track's Deployment has.")
    ready_replicas: int = Field(default=0, ge=0, description="Of those, pods that are Ready.")
    model_digest: str | None = Field(
        default=None, description="sha256 of the model as the fetcher verified it in the track's pods."
    )
    source: PodSource | None = Field(
        default=None,
        description="The model and runtime of this revision, to render the track while a canary runs.",
    )


MetricPhase = Literal["Successful", "Failed", "Inconclusive"]


class MetricResult(ApiModel):
    """The outcome of one analysis metric at one check."""

    name: str = Field(description="The metric's name in spec.rollout.analysis.metrics.")
    phase: MetricPhase = Field(description="Successful, Failed, or Inconclusive (no data).")
    value: float | None = Field(
        default=None, description="The figure the query returned; absent when no data."
    )
    message: str = Field(default="", description="The figure against its thresholds, or why there is none.")


class CanaryStatus(ApiModel):
    """The rollout in progress (``status.canary``): where it is and how it is doing."""

    revision: str = Field(description="Revision the canary runs.")
    version: str = Field(description="spec.model.version of that revision.")
    uri: str = Field(description="spec.model.uri of that revision.")
    step: int = Field(ge=0, description="Index of the current step in spec.rollout.steps (0-based).")
    weight: int = Field(ge=0, le=100, description="Percent of traffic the current step asks for.")
    effective_weight: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Percent of ready serving pods (mode replicas) or route weight (gatewayAPI).",
    )
    step_started_at: datetime = Field(
        description="When the current step started; moved on by the time spec.rollout.paused held it."
    )
    paused_at: datetime | None = Field(
        default=None,
        description="When spec.rollout.paused began holding the rollout; the step's clock resumes when it ends.",
    )
    failed_checks: int = Field(default=0, ge=0, description="Failed analysis checks so far in this rollout.")
    last_analysis_at: datetime | None = Field(default=None, description="When analysis last ran.")
    analysis: list[MetricResult] = Field(default_factory=list, description="Figures of the last analysis.")
    promoting: bool = Field(
        default=False, description="All steps passed: the stable track is being replaced."
    )
    replicas: int = Field(default=0, ge=0, description="Pods the canary Deployment has.")
    ready_replicas: int = Field(default=0, ge=0, description="Of those, pods that are Ready.")
    message: str = Field(default="", description="What the rollout waits for.")
    source: PodSource = Field(description="The model and runtime of the canary revision.")


class HistoryEntry(ApiModel):
    """A promoted revision (``status.history``, newest last, at most 10)."""

    revision: str = Field(description="The promoted revision.")
    version: str = Field(description="Its spec.model.version.")
    uri: str = Field(description="Its spec.model.uri.")
    promoted_at: datetime = Field(description="When it became stable.")
    source: PodSource = Field(description="Its model and runtime, for `glidepath undo`.")


class FailedRevision(ApiModel):
    """The revision that was rolled back; not retried until the spec changes or a retry is asked for."""

    revision: str = Field(description="The rolled-back revision.")
    reason: str = Field(description="ProgressDeadlineExceeded, AnalysisFailed or Aborted.")
    message: str = Field(default="", description="The failing figure or what timed out.")
    at: datetime = Field(description="When it was rolled back.")
    source: PodSource | None = Field(
        default=None,
        description="Its model and runtime: matched too, so an operator upgrade that renders a new revision "
        "for the same spec does not retry it.",
    )


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
    canary: CanaryStatus | None = Field(default=None, description="The rollout in progress, if any.")
    failed: FailedRevision | None = Field(default=None, description="The last rolled-back revision.")
    history: list[HistoryEntry] = Field(default_factory=list, description="Promoted revisions, newest last.")
    handled_requests: dict[str, str] = Field(
        default_factory=dict,
        description="Ids of the promote/abort/retry requests (annotations) already acted on.",
    )
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
