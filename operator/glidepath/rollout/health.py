"""PURE: from observation, decision and the apply's outcome to the ModelDeployment's status.

A pure mapping from facts to phase and conditions (as Flagger's), with the clock passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from glidepath.api import ConditionType, ModelDeploymentStatus, Phase, TrackStatus, set_condition
from glidepath.rollout.decide import Decision
from glidepath.rollout.observation import Observation


@dataclass(frozen=True)
class Outcome:
    """What happened in this reconcile besides the rollout decision.

    url: in-cluster URL of the Service.
    error: why the reconcile could not apply the desired state ("spec.x: ..." or the API server's
        refusal); None when it applied.
    error_reason: CamelCase reason for ``error`` (InvalidSpec, ApplyFailed, HTTPRouteCRDMissing).
    service_monitor: "applied", "skipped" (CRD absent) or "disabled".
    """

    url: str | None
    error: str | None = None
    error_reason: str = "ApplyFailed"
    service_monitor: str = "disabled"


def compute_status(
    generation: int,
    observation: Observation,
    decision: Decision | None,
    outcome: Outcome,
    previous: ModelDeploymentStatus,
    now: datetime,
) -> ModelDeploymentStatus:
    """The new status: observedGeneration, phase, conditions (Ready, Progressing, Degraded,
    ServiceMonitor), stable and canary tracks, rollout bookkeeping, URL. ``decision`` is None when
    the spec could not be parsed (the rollout fields are then kept as they were).
    lastTransitionTime moves only on a status change, so an unchanged world gives an equal status.
    """
    conds = list(previous.conditions)

    def put(type_: str, status: bool, reason: str, message: str) -> None:
        nonlocal conds
        conds = set_condition(conds, type_, "True" if status else "False", reason, message, now, generation)

    live = observation.stable
    stable_status = previous.stable
    canary_status = previous.canary
    if decision is not None:
        plan = decision.plan.stable
        fetch = observation.stable_fetch
        stable_status = TrackStatus(
            revision=plan.revision,
            version=plan.source.model.version,
            uri=plan.source.model.uri,
            replicas=live.replicas if live is not None else 0,
            ready_replicas=live.ready if live is not None else 0,
            model_digest=fetch.digest if fetch is not None and fetch.state == "Verified" else None,
            source=plan.source,
        )
        canary_status = decision.canary
        live_canary = observation.canary
        if canary_status is not None and live_canary is not None:
            canary_status = canary_status.model_copy(
                update={"replicas": live_canary.replicas, "ready_replicas": live_canary.ready}
            )
    rolled_out = (
        live is not None
        and stable_status is not None
        and live.revision == stable_status.revision
        and live.rolled_out
    )

    if outcome.error is not None:
        put(ConditionType.DEGRADED, True, outcome.error_reason, outcome.error)
    elif decision is not None and decision.degraded is not None:
        put(ConditionType.DEGRADED, True, *decision.degraded)
    elif live is not None and live.deadline_exceeded:
        put(
            ConditionType.DEGRADED,
            True,
            "ProgressDeadlineExceeded",
            "the stable Deployment is not making progress",
        )
    else:
        put(ConditionType.DEGRADED, False, "AsExpected", "")

    fetch = observation.stable_fetch
    if fetch is None:
        conds = set_condition(
            conds, ConditionType.MODEL_READY, "Unknown", "Fetching", "no stable pods yet", now, generation
        )
    elif fetch.state == "Fetching":
        conds = set_condition(
            conds, ConditionType.MODEL_READY, "Unknown", "Fetching", fetch.message, now, generation
        )
    else:
        put(ConditionType.MODEL_READY, not fetch.failed, fetch.state, fetch.message)

    if live is None:
        put(ConditionType.READY, False, "Pending", "the stable Deployment does not exist yet")
    elif fetch is not None and fetch.failed:
        put(ConditionType.READY, False, fetch.state, f"the model cannot be loaded: {fetch.message}")
    elif live.available_all:
        put(ConditionType.READY, True, "Available", f"{live.available}/{live.desired} stable pods available")
    else:
        reason = "ReplicasNotReady" if live.available == 0 and live.desired > 0 else "PartiallyAvailable"
        put(ConditionType.READY, False, reason, f"{live.available}/{live.desired} stable pods available")

    phase_hint = decision.phase if decision is not None else None
    if phase_hint == Phase.ROLLED_BACK:
        put(ConditionType.PROGRESSING, False, "RolledBack", "the canary was rolled back; stable serves")
    elif canary_status is not None:
        put(
            ConditionType.PROGRESSING,
            True,
            "Promoting" if canary_status.promoting else "Canary",
            canary_status.message,
        )
    elif live is None:
        put(ConditionType.PROGRESSING, True, "Creating", "creating the stable Deployment")
    elif rolled_out:
        put(ConditionType.PROGRESSING, False, "RolledOut", f"revision {stable_status.revision} is rolled out")  # type: ignore[union-attr]
    else:
        put(
            ConditionType.PROGRESSING,
            True,
            "RollingUpdate",
            f"{live.updated}/{live.desired} stable pods updated",
        )

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
    if phase_hint is not None:
        phase = phase_hint
    elif degraded:
        phase = Phase.DEGRADED
    elif canary_status is not None or not rolled_out:
        phase = Phase.PROGRESSING
    else:
        phase = Phase.HEALTHY
    return ModelDeploymentStatus(
        observed_generation=generation,
        phase=phase,
        conditions=conds,
        stable=stable_status,
        canary=canary_status,
        failed=decision.failed if decision is not None else previous.failed,
        history=decision.history if decision is not None else previous.history,
        handled_requests=decision.handled_requests if decision is not None else previous.handled_requests,
        url=outcome.url,
    )
