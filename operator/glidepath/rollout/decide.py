"""PURE: decide(spec, revisions, status, observation, analysis, requests, now) -> Decision.

The rollout state machine. All state lives in ``status`` (stable source, canary step and its start,
failed checks, failed revision, history, handled requests), so an operator restarted mid-step
resumes exactly where it was. A step changes only here, once per reconcile, so none is repeated or
skipped. No I/O: the clock and the Prometheus figures are inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from glidepath import naming
from glidepath.api import (
    CanaryStatus,
    FailedRevision,
    HistoryEntry,
    MetricResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    parse_duration,
)
from glidepath.plan import Plan, Revision, TrackPlan
from glidepath.rollout.observation import PERMANENT_FETCH_FAILURES, Observation
from glidepath.rollout.traffic import effective_weight, split

HISTORY_LIMIT = 10
READINESS_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the ModelDeployment. type: Normal or Warning."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Requests:
    """promote/abort/retry requests: the ids in the request annotations (see naming.REQUEST_ANNOTATIONS)."""

    ids: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str] | None) -> Requests:
        """Read the request annotations of a ModelDeployment."""
        annotations = annotations or {}
        return cls(
            {
                kind: annotations[key]
                for kind, key in naming.REQUEST_ANNOTATIONS.items()
                if annotations.get(key)
            }
        )


@dataclass(frozen=True)
class Decision:
    """What the cluster should run and what status should say.

    phase: RolledBack or Paused when the rollout says so; None to derive it from readiness.
    degraded: (reason, message) of a rollback, for the Degraded condition.
    requeue_after: seconds until the rollout needs another look (a pause ends, analysis is due), or None.
    """

    plan: Plan
    canary: CanaryStatus | None = None
    phase: Phase | None = None
    degraded: tuple[str, str] | None = None
    failed: FailedRevision | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    handled_requests: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def analysis_due(
    spec: ModelDeploymentSpec, desired: str, previous: ModelDeploymentStatus, now: datetime
) -> bool:
    """Whether this reconcile should query Prometheus for the canary of revision ``desired``.

    Due every ``analysis.interval`` while a canary with ready pods runs a step (not while paused,
    promoting or rolled back); the first check comes one interval after the canary started.
    """
    analysis, canary = spec.rollout.analysis, previous.canary
    if analysis is None or canary is None or canary.revision != desired or canary.promoting:
        return False
    if spec.rollout.paused or canary.ready_replicas == 0:
        return False
    since = canary.last_analysis_at or canary.step_started_at
    return _seconds(now, since) >= parse_duration(analysis.interval)


def _history_entry(rev: Revision, now: datetime) -> HistoryEntry:
    return HistoryEntry(
        revision=rev.revision,
        version=rev.source.model.version,
        uri=rev.source.model.uri,
        promoted_at=now,
        source=rev.source,
    )


def _append(history: list[HistoryEntry], rev: Revision, now: datetime) -> list[HistoryEntry]:
    kept = [h for h in history if h.revision != rev.revision]
    return [*kept, _history_entry(rev, now)][-HISTORY_LIMIT:]


def decide(
    spec: ModelDeploymentSpec,
    desired: Revision,
    stable: Revision | None,
    previous: ModelDeploymentStatus,
    observation: Observation,
    analysis: list[MetricResult] | None,
    requests: Requests,
    now: datetime,
) -> Decision:
    """One step of the rollout state machine.

    desired: what the spec asks for now. stable: what status.stable says runs (None before the first
    deployment). analysis: figures queried this reconcile (None when no analysis ran; see
    :func:`analysis_due`). Returns the plan for both tracks, the new rollout status and Events.
    """
    return _Decider(spec, desired, stable, previous, observation, requests, now).run(analysis)


class _Decider:
    """The state of one decide() call; every method is pure."""

    def __init__(
        self,
        spec: ModelDeploymentSpec,
        desired: Revision,
        stable: Revision | None,
        previous: ModelDeploymentStatus,
        observation: Observation,
        requests: Requests,
        now: datetime,
    ) -> None:
        self.spec, self.desired, self.stable, self.prev, self.obs, self.now = (
            spec,
            desired,
            stable,
            previous,
            observation,
            now,
        )
        self.requests = requests
        self.handled = dict(previous.handled_requests)
        self.history = list(previous.history)
        self.events: list[Event] = []
        self.fixed = spec.fixed_replicas

    # -- helpers ---------------------------------------------------------------------------------

    def _new_request(self, kind: str) -> bool:
        rid = self.requests.ids.get(kind)
        if rid is None or self.handled.get(kind) == rid:
            return False
        self.handled[kind] = rid
        return True

    def _ignore_requests(self, why: str) -> None:
        """Mark every request not acted on as handled, with an Event: a promote or abort asked for
        when no canary runs must not act on a later rollout."""
        for kind, rid in sorted(self.requests.ids.items()):
            if self._new_request(kind):
                self._event("Normal", "RequestIgnored", f"{kind} request {rid} ignored: {why}")

    def _event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def _decision(self, plan: Plan, **kw: object) -> Decision:
        return Decision(
            plan=plan,
            history=self.history,
            handled_requests=self.handled,
            events=self.events,
            **kw,  # type: ignore[arg-type]
        )

    def _track(self, rev: Revision, replicas: int | None) -> TrackPlan:
        return TrackPlan(rev.source, rev.revision, replicas)

    def _total(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self.obs.stable is not None:
            return self.obs.stable.desired
        assert self.spec.autoscaling is not None
        return self.spec.autoscaling.min_replicas

    def _canary_ready(self) -> int:
        canary = self.obs.canary
        return canary.ready if canary is not None and canary.revision == self.desired.revision else 0

    # -- the state machine -----------------------------------------------------------------------

    def run(self, analysis: list[MetricResult] | None) -> Decision:
        if self.stable is None:
            self._ignore_requests("no rollout in progress (first deployment)")
            self.history = _append(self.history, self.desired, self.now)
            model = self.desired.source.model
            self._event(
                "Normal",
                "Deployed",
                f"revision {self.desired.revision} (model version {model.version}) is stable",
            )
            return self._decision(Plan(self._track(self.desired, self.fixed)))
        if self.desired.revision == self.stable.revision:
            return self._steady(self.stable)
        return self._rollout(self.stable, analysis)

    def _steady(self, stable: Revision) -> Decision:
        """The spec asks for what is stable: finish a promotion, or drop an abandoned canary."""
        plan = Plan(self._track(stable, self.fixed))
        canary = self.prev.canary
        if canary is None:
            self._ignore_requests("no rollout in progress")
            return self._decision(plan)
        if canary.promoting and canary.revision == stable.revision:
            self._ignore_requests(f"canary {canary.revision} is already being promoted")
            live = self.obs.stable
            if live is not None and live.revision == stable.revision and live.rolled_out:
                self._event("Normal", "Promoted", f"revision {stable.revision} is stable; canary removed")
                return self._decision(plan)
            # the route keeps the canary's share until the stable track runs the new revision
            serving = self.obs.canary is not None and self.obs.canary.ready > 0
            keep = replace(
                plan,
                canary=TrackPlan(canary.source, canary.revision, canary.replicas),
                canary_weight=canary.weight if serving else 0,
            )
            return self._decision(
                keep, canary=canary.model_copy(update={"message": "waiting for the stable track to roll out"})
            )
        self._ignore_requests("no rollout in progress")
        self._event(
            "Normal",
            "CanaryRemoved",
            f"spec is back at stable revision {stable.revision}; canary {canary.revision} removed",
        )
        return self._decision(plan)

    def _rollout(self, stable: Revision, analysis: list[MetricResult] | None) -> Decision:
        desired, rollout = self.desired, self.spec.rollout
        failed = self.prev.failed
        if failed is not None and failed.revision != desired.revision and failed.source == desired.source:
            # the same spec, rendered anew by an upgraded operator: still the failed one
            failed = failed.model_copy(update={"revision": desired.revision})
        if self._new_request("retry") and failed is not None and failed.revision == desired.revision:
            self._event("Normal", "Retry", f"retrying revision {desired.revision}")
            failed = None
        if failed is not None and failed.revision == desired.revision:
            self._ignore_requests(f"revision {desired.revision} was rolled back; only retry applies")
            plan = Plan(
                self._track(stable, self._total() if self.fixed is not None else None),
                self._track(desired, 0),
            )
            return self._decision(
                plan, phase=Phase.ROLLED_BACK, degraded=(failed.reason, failed.message), failed=failed
            )

        recent = self.history[-rollout.rollback_window :] if rollout.rollback_window else []
        # matched by revision, or by model and runtime when an upgraded operator renders them anew
        in_window = any(h.revision == desired.revision or h.source == desired.source for h in recent)
        if not rollout.steps or in_window:
            why = "it is one of the last promoted revisions (rollbackWindow)" if in_window else "no steps"
            self._ignore_requests(f"revision {desired.revision} is promoted without canary")
            self.history = _append(self.history, desired, self.now)
            self._event("Normal", "Promoted", f"revision {desired.revision} promoted without canary: {why}")
            return self._decision(Plan(self._track(desired, self.fixed)))

        steps = rollout.steps
        canary = self.prev.canary
        if canary is not None and canary.revision != desired.revision and canary.source == desired.source:
            canary = canary.model_copy(update={"revision": desired.revision})  # re-rendered, same rollout
        if canary is None or canary.revision != desired.revision or canary.promoting:
            canary = CanaryStatus(
                revision=desired.revision,
                version=desired.source.model.version,
                uri=desired.source.model.uri,
                step=0,
                weight=steps[0].weight,
                step_started_at=self.now,
                source=desired.source,
            )
            self._event(
                "Normal",
                "CanaryStarted",
                f"canary revision {desired.revision} (model version {canary.version}): "
                f"step 1/{len(steps)} at {steps[0].weight}%",
            )
        if self._new_request("abort"):
            return self._rollback(stable, "Aborted", "aborted by request (glidepath abort)")

        if analysis is not None:
            canary = canary.model_copy(update={"last_analysis_at": self.now, "analysis": analysis})
            failures = [r.message for r in analysis if r.phase == "Failed"]
            if failures:
                assert rollout.analysis is not None
                canary = canary.model_copy(update={"failed_checks": canary.failed_checks + 1})
                limit = rollout.analysis.failure_limit
                self._event(
                    "Warning",
                    "AnalysisFailed",
                    f"check failed ({canary.failed_checks}/{limit + 1}): {'; '.join(failures)}",
                )
                if canary.failed_checks > limit:
                    return self._rollback(stable, "AnalysisFailed", "; ".join(failures))

        if self._new_request("promoteFull"):
            self._event("Normal", "PromoteRequested", "full promotion requested")
            return self._promote(canary)
        return self._step(stable, canary)

    def _step(self, stable: Revision, canary: CanaryStatus) -> Decision:
        rollout = self.spec.rollout
        steps = rollout.steps
        # spec.rollout.paused stops the step's clock (its pause, the progress deadline) until lifted
        if rollout.paused and canary.paused_at is None:
            canary = canary.model_copy(update={"paused_at": self.now})
        elif not rollout.paused and canary.paused_at is not None:
            held = self.now - canary.paused_at
            canary = canary.model_copy(
                update={"step_started_at": canary.step_started_at + held, "paused_at": None}
            )
        step = steps[canary.step]
        sp = split(
            rollout.traffic.mode,
            self._total(),
            self.fixed is not None,
            step.weight,
            self._canary_ready(),
            self.spec.autoscaling.max_replicas if self.spec.autoscaling else None,
        )
        label = f"step {canary.step + 1}/{len(steps)} at {step.weight}%"
        elapsed = _seconds(self.now, canary.step_started_at)

        def hold(message: str, requeue: float | None, phase: Phase | None = None) -> Decision:
            stable_ready = self.obs.stable.ready if self.obs.stable is not None else 0
            eff = effective_weight(rollout.traffic.mode, stable_ready, self._canary_ready(), sp.canary_weight)
            status = canary.model_copy(
                update={"message": message, "effective_weight": eff, "weight": step.weight}
            )
            plan = Plan(
                self._track(stable, sp.stable_replicas),
                self._track(self.desired, sp.canary_replicas),
                sp.canary_weight,
            )
            return self._decision(plan, canary=status, phase=phase, requeue_after=requeue)

        if rollout.paused:
            return hold(f"{label}: paused (spec.rollout.paused)", None, Phase.PAUSED)

        ready = self._canary_ready()
        fetch = self.obs.canary_fetch
        if fetch is not None and fetch.state in PERMANENT_FETCH_FAILURES:
            return self._rollback(stable, "ModelFetchFailed", f"canary {fetch.message}")
        if ready < sp.canary_replicas:
            deadline = float(rollout.progress_deadline_seconds)
            why = f"; {fetch.message}" if fetch is not None and fetch.failed else ""
            if elapsed > deadline:
                return self._rollback(
                    stable,
                    "ProgressDeadlineExceeded",
                    f"canary {ready}/{sp.canary_replicas} pods ready after {rollout.progress_deadline_seconds}s at {label}{why}",
                )
            return hold(
                f"{label}: waiting for canary pods ({ready}/{sp.canary_replicas} ready){why}",
                min(READINESS_POLL_SECONDS, deadline - elapsed + 0.5),
            )

        if self._new_request("promote"):
            self._event("Normal", "PromoteRequested", f"promote requested at {label}")
        elif step.pause is None:
            return hold(
                f"{label}: waiting for promote (glidepath promote)",
                self._until_analysis(canary, None),  # analysis goes on at its interval meanwhile
                Phase.PAUSED,
            )
        else:
            remaining = parse_duration(step.pause) - elapsed
            analysis = rollout.analysis
            if remaining > 0:
                return hold(f"{label}: pausing {step.pause}", self._until_analysis(canary, remaining))
            if analysis is not None:
                current = (
                    canary.analysis
                    if canary.last_analysis_at and canary.last_analysis_at >= canary.step_started_at
                    else []
                )
                if not current or any(r.phase != "Successful" for r in current):
                    waiting = (
                        ", ".join(f"{r.name}: {r.message}" for r in current if r.phase != "Successful")
                        or "no check yet"
                    )
                    return hold(
                        f"{label}: waiting for a successful analysis ({waiting})",
                        self._until_analysis(canary, None),
                    )

        if canary.step + 1 >= len(steps):
            return self._promote(canary)
        nxt = canary.step + 1
        advanced = canary.model_copy(
            update={"step": nxt, "weight": steps[nxt].weight, "step_started_at": self.now}
        )
        self._event(
            "Normal",
            "StepAdvanced",
            f"canary {canary.revision}: step {nxt + 1}/{len(steps)} at {steps[nxt].weight}%",
        )
        return self._step(stable, advanced)

    def _until_analysis(self, canary: CanaryStatus, remaining: float | None) -> float | None:
        analysis = self.spec.rollout.analysis
        waits = [] if remaining is None else [remaining]
        if analysis is not None:
            since = canary.last_analysis_at or canary.step_started_at
            waits.append(max(0.0, parse_duration(analysis.interval) - _seconds(self.now, since)))
        return min(waits) + 0.5 if waits else None

    def _promote(self, canary: CanaryStatus) -> Decision:
        """All steps passed: the desired revision becomes stable; the canary stays until stable rolled out."""
        self.history = _append(self.history, self.desired, self.now)
        self._event("Normal", "Promoting", f"canary {canary.revision} passed; replacing the stable track")
        replicas = canary.replicas or (self.obs.canary.desired if self.obs.canary is not None else 0)
        plan = Plan(
            self._track(self.desired, self.fixed),
            TrackPlan(canary.source, canary.revision, replicas),
            # gatewayAPI: a canary with Ready pods keeps its share until stable runs the new revision
            canary.weight if self._canary_ready() > 0 else 0,
        )
        status = canary.model_copy(
            update={"promoting": True, "message": "promoting: replacing the stable track"}
        )
        return self._decision(plan, canary=status, requeue_after=READINESS_POLL_SECONDS)

    def _rollback(self, stable: Revision, reason: str, message: str) -> Decision:
        """All traffic back to stable, canary scaled to zero, the revision recorded as failed."""
        failed = FailedRevision(
            revision=self.desired.revision,
            reason=reason,
            message=message,
            at=self.now,
            source=self.desired.source,
        )
        self._event(
            "Warning", "RolledBack", f"revision {self.desired.revision} rolled back: {reason}: {message}"
        )
        plan = Plan(
            self._track(stable, self._total() if self.fixed is not None else None),
            self._track(self.desired, 0),
        )
        return self._decision(plan, phase=Phase.ROLLED_BACK, degraded=(reason, message), failed=failed)
