"""PURE: from spec, observation and outcome of the apply to the ModelDeployment's status.

A pure mapping from facts to phase and conditions (as Flagger's), with the clock passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from glidepath.api import (
    ConditionType,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    TrackStatus,
    set_condition,
)
from glidepath.rollout.observation import Observation


@dataclass(frozen=True)
class Outcome:
    """What happened in this reconcile besides the observation.

    revision: the desired pod-template revision (from render).
    url: in-cluster URL of the Service.
    error: why the reconcile could not apply the desired state ("spec.x: ..." or the API server's
        refusal); None when it applied.
    error_reason: CamelCase reason for ``error`` (InvalidSpec, ApplyFailed).
    service_monitor: "applied", "skipped" (CRD absent) or "disabled".
    """

    revision: str | None
    url: str | None
    error: str | None = None
    error_reason: str = "ApplyFailed"
    service_monitor: str = "disabled"


def compute_status(
    spec: ModelDeploymentSpec | None,
    generation: int,
    observation: Observation,
    outcome: Outcome,
    previous: ModelDeploymentStatus,
    now: datetime,
) -> ModelDeploymentStatus:
    """The new status: observedGeneration, phase, conditions (Ready, Progressing, Degraded,
    ServiceMonitor), the stable track and the URL. lastTransitionTime moves only on a status change.
    """
    conds = list(previous.conditions)

    def put(type_: str, status: bool, reason: str, message: str) -> None:
        nonlocal conds
        conds = set_condition(conds, type_, "True" if status else "False", reason, message, now, generation)

    stable = observation.stable
    stable_status = previous.stable
    if stable is not None and spec is not None and stable.revision is not None:
        stable_status = TrackStatus(
            revision=stable.revision,
            version=spec.model.version if stable.revision == outcome.revision else _keep(previous, "version"),
            uri=spec.model.uri if stable.revision == outcome.revision else _keep(previous, "uri"),
            replicas=stable.replicas,
            ready_replicas=stable.ready,
        )

    current = stable is not None and stable.revision == outcome.revision and stable.rolled_out
    if outcome.error is not None:
        put(ConditionType.DEGRADED, True, outcome.error_reason, outcome.error)
    elif stable is not None and stable.deadline_exceeded:
        put(
            ConditionType.DEGRADED,
            True,
            "ProgressDeadlineExceeded",
            "the stable Deployment is not making progress",
        )
    else:
        put(ConditionType.DEGRADED, False, "AsExpected", "")

    if stable is None:
        put(ConditionType.READY, False, "Pending", "the stable Deployment does not exist yet")
        put(ConditionType.PROGRESSING, True, "Creating", "creating the stable Deployment")
    elif current:
        put(ConditionType.READY, True, "Available", f"{stable.ready}/{stable.desired} pods ready")
        put(ConditionType.PROGRESSING, False, "RolledOut", f"revision {outcome.revision} is rolled out")
    else:
        serving = stable.available > 0 and stable.desired > 0
        msg = f"{stable.updated}/{stable.desired} pods updated, {stable.ready} ready"
        put(ConditionType.READY, False, "ReplicasNotReady" if not serving else "RollingUpdate", msg)
        put(ConditionType.PROGRESSING, True, "RollingUpdate", msg)

    if outcome.service_monitor == "applied":
        put(ConditionType.SERVICE_MONITOR, True, "Applied", "")
    elif outcome.service_monitor == "skipped":
        put(
            ConditionType.SERVICE_MONITOR,
            False,
            "CRDNotInstalled",
            "ServiceMonitor skipped: the monitoring.coreos.com/v1 ServiceMonitor CRD is not installed",
        )
    else:
        conds = [c for c in conds if c.type != ConditionType.SERVICE_MONITOR]

    degraded = next(c for c in conds if c.type == ConditionType.DEGRADED).status == "True"
    phase = Phase.DEGRADED if degraded else Phase.HEALTHY if current else Phase.PROGRESSING
    return ModelDeploymentStatus(
        observed_generation=generation,
        phase=phase,
        conditions=conds,
        stable=stable_status,
        url=outcome.url,
    )


def _keep(previous: ModelDeploymentStatus, field: str) -> str:
    if previous.stable is None:
        return ""
    return str(getattr(previous.stable, field))
