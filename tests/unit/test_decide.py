"""decide(): the rollout state machine driven tick by tick with an injected clock (as Flagger's
scheduler tests, without fake clients). The cluster is simulated from each plan; the status goes
through its wire form every tick, as the operator reads it back from the API server."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from glidepath.api import (
    MetricResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    PodSource,
    parse_spec,
)
from glidepath.plan import Revision, TrackPlan
from glidepath.rollout import (
    Decision,
    ModelFetch,
    Observation,
    Outcome,
    Requests,
    TrackObservation,
    analysis_due,
    canary_replicas,
    compute_status,
    decide,
    effective_weight,
    split,
)

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
STEPS = [{"weight": 10, "pause": "1m"}, {"weight": 50, "pause": "1m"}, {"weight": 100, "pause": "1m"}]


def spec(version: str, **rollout: Any) -> ModelDeploymentSpec:
    return parse_spec(
        {
            "model": {"uri": f"https://models.example/m/{version}/model.onnx", "version": version},
            "replicas": 4,
            "rollout": {"steps": STEPS, "progressDeadlineSeconds": 120, **rollout},
        }
    )


def revision(source: PodSource) -> str:
    return f"r{source.model.version}"


def live(plan: TrackPlan | None, ready: bool) -> TrackObservation | None:
    if plan is None:
        return None
    n = plan.replicas or 0
    return TrackObservation(plan.revision, n, n, n, n if ready else 0, n if ready else 0, True, False)


@dataclass
class Sim:
    """The operator's loop against a simulated cluster where pods become Ready in one tick."""

    now: datetime = T0
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    obs: Observation = field(default_factory=lambda: Observation(stable=None))
    canary_ready: bool = True
    events: list[str] = field(default_factory=list)
    #: Appended to every revision: an upgraded operator renders the same spec to a new revision.
    renderer: str = ""

    def tick(
        self,
        s: ModelDeploymentSpec,
        after: float = 0,
        *,
        analysis: list[MetricResult] | None = None,
        **requests: str,
    ) -> Decision:
        self.now += timedelta(seconds=after)
        source = PodSource.of(s)
        desired = Revision(source, revision(source) + self.renderer)
        stable = None
        if self.status.stable is not None and self.status.stable.source is not None:
            stable = Revision(self.status.stable.source, revision(self.status.stable.source) + self.renderer)
        d = decide(s, desired, stable, self.status, self.obs, analysis, Requests(requests), self.now)
        status = compute_status(1, self.obs, d, Outcome(url=None), self.status, self.now)
        self.status = ModelDeploymentStatus.model_validate(status.to_wire())  # as read back from the API
        self.obs = Observation(
            stable=live(d.plan.stable, True), canary=live(d.plan.canary, self.canary_ready)
        )
        self.events += [e.reason for e in d.events]
        return d

    def phase(self) -> Phase | None:
        """The phase now (a call, so type checkers do not carry narrowing across ticks)."""
        return self.status.phase

    def run_until(self, s: ModelDeploymentSpec, seconds: float, step: float = 5) -> None:
        end = self.now + timedelta(seconds=seconds)
        while self.now < end:
            self.tick(s, after=step)


def deployed(version: str = "1") -> Sim:
    sim = Sim()
    sim.tick(spec(version))
    sim.tick(spec(version), after=1)
    assert sim.phase() == Phase.HEALTHY
    return sim


def rolled_back() -> Sim:
    """v1 stable, v2 rolled back after its canary never became Ready; canary pods get Ready again."""
    sim = deployed()
    sim.canary_ready = False
    sim.run_until(spec("2"), 200)
    assert sim.phase() == Phase.ROLLED_BACK
    sim.canary_ready = True
    return sim


def test_first_deployment_has_no_canary() -> None:
    sim = Sim()
    d = sim.tick(spec("1"))
    assert d.plan.canary is None
    assert d.plan.stable.replicas == 4
    assert sim.events == ["Deployed"]
    assert [h.revision for h in sim.status.history] == ["r1"]


def test_promote_path_walks_every_step_with_its_weight() -> None:
    sim = deployed()
    v2 = spec("2")
    d = sim.tick(v2)
    assert sim.status.canary is not None
    assert (sim.status.canary.step, sim.status.canary.weight) == (0, 10)
    assert d.plan.canary == TrackPlan(PodSource.of(v2), "r2", 1)  # ceil(4 * 10%) = 1 pod
    assert d.plan.stable.replicas == 4  # stable gives up pods only when canary pods are Ready
    assert sim.phase() == Phase.PROGRESSING

    d = sim.tick(v2, after=5)  # canary pod Ready now
    assert d.plan.stable.replicas == 3
    assert sim.status.canary.effective_weight == 20  # 1 of 5 ready pods: approximate in mode replicas

    seen = []
    for _ in range(200):
        d = sim.tick(v2, after=5)
        if sim.status.canary is not None and not sim.status.canary.promoting:
            seen.append(
                (
                    sim.status.canary.step,
                    sim.status.canary.weight,
                    d.plan.canary.replicas if d.plan.canary else None,
                )
            )
        if sim.status.canary is None:
            break
    steps_seen = sorted({(s, w) for s, w, _ in seen})
    assert steps_seen == [(0, 10), (1, 50), (2, 100)]
    assert {r for s, _, r in seen if s == 1} == {2}
    assert {r for s, _, r in seen if s == 2} == {4}
    assert sim.events == [
        "Deployed",
        "CanaryStarted",
        "StepAdvanced",
        "StepAdvanced",
        "Promoting",
        "Promoted",
    ]
    assert sim.status.stable is not None
    assert sim.status.stable.revision == "r2"
    assert [h.revision for h in sim.status.history] == ["r1", "r2"]
    assert sim.phase() == Phase.HEALTHY
    assert d.plan.canary is None and d.plan.stable.replicas == 4  # noqa: PT018


def test_each_pause_is_respected() -> None:
    sim = deployed()
    v2 = spec("2")
    sim.tick(v2)
    started = sim.now
    while sim.status.canary is not None and sim.status.canary.step == 0:
        sim.tick(v2, after=1)
    assert (sim.now - started).total_seconds() == pytest.approx(60, abs=1)


def test_a_step_without_pause_waits_for_promote() -> None:
    sim = deployed()
    v2 = spec("2", steps=[{"weight": 20}, {"weight": 60, "pause": "10s"}])
    sim.tick(v2)
    sim.run_until(v2, 600)
    assert sim.phase() == Phase.PAUSED
    assert sim.status.canary is not None and sim.status.canary.step == 0  # noqa: PT018
    assert "waiting for promote" in sim.status.canary.message
    sim.tick(v2, after=1, promote="req-1")
    assert sim.status.canary.step == 1
    sim.tick(v2, after=1, promote="req-1")  # the same request is not acted on twice
    sim.tick(v2, after=1, promote="req-1")
    assert sim.status.canary.step == 1
    assert sim.status.handled_requests == {"promote": "req-1"}


def test_promote_full_skips_the_remaining_steps() -> None:
    sim = deployed()
    v2 = spec("2")
    sim.tick(v2)
    sim.tick(v2, after=5, promoteFull="now")
    assert sim.status.canary is not None and sim.status.canary.promoting  # noqa: PT018
    sim.tick(v2, after=5)
    assert sim.status.canary is None
    assert sim.status.stable is not None
    assert sim.status.stable.revision == "r2"


def test_progress_deadline_rolls_back_and_stable_keeps_its_pods() -> None:
    sim = deployed()
    sim.canary_ready = False
    v2 = spec("2")
    stable_replicas = []
    for _ in range(40):
        d = sim.tick(v2, after=5)
        stable_replicas.append(d.plan.stable.replicas)
    assert set(stable_replicas) == {4}
    assert sim.phase() == Phase.ROLLED_BACK
    assert sim.status.failed is not None
    assert (sim.status.failed.revision, sim.status.failed.reason) == ("r2", "ProgressDeadlineExceeded")
    assert "0/1 pods ready after 120s" in sim.status.failed.message
    assert d.plan.canary is not None and d.plan.canary.replicas == 0  # noqa: PT018
    degraded = sim.status.condition("Degraded")
    assert degraded is not None and (degraded.status, degraded.reason) == ("True", "ProgressDeadlineExceeded")  # noqa: PT018
    assert sim.events.count("RolledBack") == 1
    # not retried while the spec asks for the same revision
    sim.canary_ready = True
    sim.run_until(v2, 300)
    assert sim.phase() == Phase.ROLLED_BACK
    assert sim.events.count("CanaryStarted") == 1


def test_retry_and_a_new_revision_start_a_new_canary() -> None:
    sim = rolled_back()
    sim.tick(spec("2"), after=1, retry="r-1")
    assert sim.status.failed is None
    assert sim.status.canary is not None and sim.status.canary.revision == "r2"  # noqa: PT018
    assert sim.events[-2:] == ["Retry", "CanaryStarted"]

    other = rolled_back()
    other.tick(spec("3"), after=1)
    assert other.status.failed is None
    assert other.status.canary is not None and other.status.canary.revision == "r3"  # noqa: PT018


def failing(value: float) -> list[MetricResult]:
    return [
        MetricResult(
            name="error-rate", phase="Failed", value=value, message=f"error-rate {value} outside max 0.01"
        )
    ]


PASS = [
    MetricResult(name="error-rate", phase="Successful", value=0.0, message="error-rate 0 within max 0.01")
]
NODATA = [MetricResult(name="error-rate", phase="Inconclusive", message="no data")]
ANALYSIS = {
    "analysis": {"interval": "30s", "failureLimit": 1, "metrics": [{"name": "error-rate", "max": 0.01}]}
}


def test_analysis_failures_past_the_limit_roll_back_with_the_figure() -> None:
    sim = deployed()
    v2 = spec("2", **ANALYSIS)
    sim.tick(v2)
    sim.tick(v2, after=5)
    assert not analysis_due(v2, "r2", sim.status, sim.now)
    sim.now += timedelta(seconds=30)
    assert analysis_due(v2, "r2", sim.status, sim.now)
    sim.tick(v2, analysis=failing(0.3))
    assert sim.status.canary is not None and sim.status.canary.failed_checks == 1  # noqa: PT018
    assert sim.phase() == Phase.PROGRESSING  # failureLimit 1 tolerates one
    assert not analysis_due(v2, "r2", sim.status, sim.now + timedelta(seconds=29))
    sim.tick(v2, after=30, analysis=failing(0.5))
    assert sim.phase() == Phase.ROLLED_BACK
    assert sim.status.failed is not None
    assert sim.status.failed.reason == "AnalysisFailed"
    assert "error-rate 0.5 outside max 0.01" in sim.status.failed.message
    assert sim.events.count("AnalysisFailed") == 2


def test_inconclusive_analysis_holds_the_step() -> None:
    sim = deployed()
    v2 = spec("2", **ANALYSIS)
    sim.tick(v2)
    for _ in range(10):
        sim.tick(v2, after=30, analysis=NODATA)
    assert sim.status.canary is not None
    assert sim.status.canary.step == 0  # pause long over, but no data is not a pass
    assert sim.status.canary.failed_checks == 0
    assert "waiting for a successful analysis" in sim.status.canary.message
    sim.tick(v2, after=30, analysis=PASS)
    assert sim.status.canary.step == 1


def test_a_passing_analysis_promotes() -> None:
    sim = deployed()
    v2 = spec("2", **ANALYSIS)
    sim.tick(v2)
    for _ in range(40):
        due = analysis_due(v2, "r2", sim.status, sim.now + timedelta(seconds=10))
        sim.tick(v2, after=10, analysis=PASS if due else None)
        if sim.status.canary is None:
            break
    assert sim.status.stable is not None and sim.status.stable.revision == "r2"  # noqa: PT018
    assert "Promoted" in sim.events


def test_rollback_window_skips_the_steps() -> None:
    sim = deployed("1")
    sim.tick(spec("2"))
    sim.tick(spec("2"), promoteFull="a")
    sim.tick(spec("2"), after=5)
    assert sim.status.stable.revision == "r2"  # type: ignore[union-attr]
    d = sim.tick(spec("1"), after=5)  # git revert: back to a recently promoted revision
    assert d.plan.canary is None
    assert d.plan.stable.revision == "r1"
    assert sim.status.stable.revision == "r1"  # type: ignore[union-attr]
    assert sim.events[-1] == "Promoted"
    assert sim.events.count("CanaryStarted") == 1

    outside = deployed("1")
    outside.tick(spec("2", rollbackWindow=0))
    outside.tick(spec("2", rollbackWindow=0), promoteFull="a")
    outside.tick(spec("2", rollbackWindow=0), after=5)
    assert outside.status.stable.revision == "r2"  # type: ignore[union-attr]
    d = outside.tick(spec("1", rollbackWindow=0), after=5)  # r1 was promoted, but the window is 0
    assert d.plan.canary is not None and d.plan.canary.revision == "r1"  # noqa: PT018
    assert outside.status.canary is not None and outside.status.canary.step == 0  # noqa: PT018
    assert outside.events.count("CanaryStarted") == 2


def test_paused_holds_the_rollout_and_its_clock() -> None:
    sim = deployed()
    sim.tick(spec("2"))
    sim.tick(spec("2"), after=20)  # 20 s into step 1's 1m pause
    sim.canary_ready = False  # pods that go unready while paused do not hit the 120 s deadline
    sim.run_until(spec("2", paused=True), 600)
    assert sim.phase() == Phase.PAUSED
    assert sim.status.canary is not None and sim.status.canary.step == 0  # noqa: PT018
    assert sim.status.canary.paused_at is not None
    sim.canary_ready = True
    sim.tick(spec("2"), after=5)
    assert sim.status.canary.step == 0  # resumed with 40 s of the pause left, not skipped
    assert sim.status.canary.paused_at is None
    sim.run_until(spec("2"), 30)
    assert sim.status.canary.step == 0
    sim.run_until(spec("2"), 15)
    assert sim.status.canary.step == 1
    assert sim.status.failed is None


def test_analysis_goes_on_while_a_step_waits_for_promote() -> None:
    sim = deployed()
    v2 = spec("2", steps=[{"weight": 20}, {"weight": 60, "pause": "10s"}], **ANALYSIS)
    sim.tick(v2)
    d = sim.tick(v2, after=5, analysis=PASS)
    assert sim.phase() == Phase.PAUSED
    assert d.requeue_after is not None and d.requeue_after <= 30.5  # noqa: PT018 - the 30s interval


def test_abort_rolls_back_at_once() -> None:
    sim = deployed()
    sim.tick(spec("2"))
    d = sim.tick(spec("2"), after=5, abort="x")
    assert sim.phase() == Phase.ROLLED_BACK
    assert sim.status.failed is not None and sim.status.failed.reason == "Aborted"  # noqa: PT018
    assert d.plan.stable.replicas == 4
    assert d.plan.canary is not None and d.plan.canary.replicas == 0  # noqa: PT018


def test_reverting_the_spec_mid_canary_removes_it() -> None:
    sim = deployed()
    sim.tick(spec("2"))
    d = sim.tick(spec("1"), after=5)
    assert d.plan.canary is None
    assert sim.status.canary is None
    assert sim.events[-1] == "CanaryRemoved"


def test_restart_resumes_from_status_without_repeating_a_step() -> None:
    """A new operator process has nothing but the status: replaying from it gives the same walk."""
    a = deployed()
    v2 = spec("2")
    a.tick(v2)
    a.run_until(v2, 65)
    assert a.status.canary is not None and a.status.canary.step == 1  # noqa: PT018
    b = Sim(
        now=a.now + timedelta(seconds=20),
        status=ModelDeploymentStatus.model_validate(a.status.to_wire()),
        obs=a.obs,
    )
    b.tick(v2)
    assert b.status.canary is not None
    assert (b.status.canary.step, b.status.canary.step_started_at) == (1, a.status.canary.step_started_at)
    assert b.events == []  # nothing repeated


@pytest.mark.parametrize(
    ("total", "weight", "hpa", "maximum", "expected"),
    [
        (4, 10, False, None, 1),
        (4, 50, False, None, 2),
        (4, 100, False, None, 4),
        (10, 25, False, None, 3),
        (0, 50, False, None, 0),
        (4, 20, True, None, 1),
        (4, 50, True, None, 4),
        (4, 75, True, 10, 10),
        (3, 90, True, 5, 5),
    ],
)
def test_canary_replicas(total: int, weight: int, hpa: bool, maximum: int | None, expected: int) -> None:
    assert canary_replicas(total, weight, hpa, maximum) == expected


@pytest.mark.parametrize(
    ("mode", "fixed", "weight", "canary_ready", "expected"),
    [
        ("replicas", True, 50, 0, (4, 2, 0)),  # nothing ready: stable keeps everything
        ("replicas", True, 50, 1, (3, 2, 0)),
        ("replicas", True, 50, 2, (2, 2, 0)),
        ("replicas", False, 50, 2, (None, 4, 0)),  # HPA owns stable's count
        ("gatewayAPI", True, 30, 0, (4, 2, 0)),  # never route to a canary without ready pods
        ("gatewayAPI", True, 30, 1, (4, 2, 30)),
    ],
)
def test_split(
    mode: str, fixed: bool, weight: int, canary_ready: int, expected: tuple[int | None, int, int]
) -> None:
    s = split(mode, 4, fixed, weight, canary_ready, 10)
    assert (s.stable_replicas, s.canary_replicas, s.canary_weight) == expected


def test_effective_weight() -> None:
    assert effective_weight("replicas", 3, 1, 0) == 25
    assert effective_weight("replicas", 0, 0, 0) == 0
    assert effective_weight("gatewayAPI", 4, 1, 30) == 30
    assert effective_weight("gatewayAPI", 4, 0, 30) == 0


def test_a_canary_whose_model_fails_its_checksum_is_rolled_back_at_once() -> None:
    sim = deployed()
    v2 = spec("2")
    sim.tick(v2)
    sim.canary_ready = False
    sim.tick(v2, after=1)
    mismatch = ModelFetch(
        "ChecksumMismatch", "ChecksumMismatch: sha256 mismatch for s3://m/2: expected 00, got ab"
    )
    sim.obs = Observation(stable=sim.obs.stable, canary=sim.obs.canary, canary_fetch=mismatch)
    sim.tick(v2, after=1)
    assert sim.phase() == Phase.ROLLED_BACK
    assert sim.status.failed is not None
    assert sim.status.failed.reason == "ModelFetchFailed"
    assert "expected 00, got ab" in sim.status.failed.message


def test_requests_made_while_no_canary_runs_do_not_act_on_a_later_rollout() -> None:
    sim = deployed()
    # the annotations stay on the object: every later tick sees the same ids
    early: dict[str, Any] = {"promote": "p-1", "promoteFull": "f-1", "abort": "a-1", "retry": "r-1"}
    sim.tick(spec("1"), after=5, **early)
    assert sim.events.count("RequestIgnored") == 4
    assert sim.status.handled_requests == early
    v2 = spec("2", steps=[{"weight": 20}, {"weight": 60, "pause": "10s"}])
    for _ in range(5):
        sim.tick(v2, after=5, **early)
    assert sim.phase() == Phase.PAUSED  # waiting at step 1 for a promote that is yet to come
    assert sim.status.canary is not None and sim.status.canary.step == 0  # noqa: PT018
    assert sim.status.failed is None
    assert "PromoteRequested" not in sim.events
    sim.tick(v2, after=5, **{**early, "promote": "p-2"})  # a new request acts
    assert sim.status.canary.step == 1


def test_requests_while_rolled_back_are_ignored_except_retry() -> None:
    sim = rolled_back()
    sim.tick(spec("2"), after=5, promoteFull="f-1")
    assert sim.phase() == Phase.ROLLED_BACK
    assert sim.events[-1] == "RequestIgnored"
    sim.tick(spec("2"), after=5, promoteFull="f-1", retry="r-1")
    assert sim.status.canary is not None and not sim.status.canary.promoting  # noqa: PT018
    assert sim.status.canary.step == 0  # the old promoteFull did not carry over to the retried canary


GATEWAY = {"traffic": {"mode": "gatewayAPI", "parentRefs": [{"name": "gw"}]}}


@pytest.mark.parametrize(("full_at_step", "weight"), [(None, 100), (0, 10)])
def test_gateway_route_keeps_the_canary_share_until_stable_has_rolled_out(
    full_at_step: int | None, weight: int
) -> None:
    sim = deployed()
    v2 = spec("2", **GATEWAY)
    sim.tick(v2)
    promoting = []
    for _ in range(100):
        asked: dict[str, Any] = {"promoteFull": "f"} if full_at_step == 0 else {}
        d = sim.tick(v2, after=5, **asked)
        if sim.status.canary is not None and sim.status.canary.promoting:
            promoting.append(d)
            sim.obs = Observation(
                stable=TrackObservation("r2", 4, 4, 2, 2, 2, False, False), canary=live(d.plan.canary, True)
            )
            held = sim.tick(v2, after=5, **asked)  # stable half rolled out: still promoting
            assert held.plan.canary is not None
            assert held.plan.canary_weight == weight
            break
    (first,) = promoting
    assert first.plan.canary is not None
    assert first.plan.canary_weight == weight
    sim.obs = Observation(stable=live(TrackPlan(first.plan.stable.source, "r2", 4), True))
    done = sim.tick(v2, after=5)
    assert done.plan.canary is None
    assert done.plan.canary_weight == 0
    assert sim.events[-1] == "Promoted"


def test_an_operator_upgrade_that_renders_new_revisions_keeps_the_rollout_state() -> None:
    failed = rolled_back()
    failed.renderer = "-upgraded"
    failed.run_until(spec("2"), 60)
    assert failed.phase() == Phase.ROLLED_BACK  # the same spec is not retried
    assert failed.status.failed is not None and failed.status.failed.revision == "r2-upgraded"  # noqa: PT018
    assert failed.events.count("CanaryStarted") == 1

    window = deployed()
    window.tick(spec("2"))
    window.tick(spec("2"), promoteFull="f")
    window.tick(spec("2"), after=5)
    window.renderer = "-upgraded"
    d = window.tick(spec("1"), after=5)  # a git revert after the upgrade: still the fast path
    assert d.plan.canary is None
    assert window.events[-1] == "Promoted"

    midway = deployed()
    midway.run_until(spec("2"), 70)  # past step 1's 1m pause
    assert midway.status.canary is not None and midway.status.canary.step == 1  # noqa: PT018
    midway.renderer = "-upgraded"
    midway.tick(spec("2"), after=5)
    assert midway.status.canary.step == 1  # carried on, not restarted
    assert midway.status.canary.revision == "r2-upgraded"
    assert midway.events.count("CanaryStarted") == 1


def test_with_an_hpa_stable_replicas_are_never_set_and_the_canary_follows_its_current_size() -> None:
    def hpa_spec(version: str) -> ModelDeploymentSpec:
        return parse_spec(
            {
                "model": {"uri": f"https://models.example/m/{version}/model.onnx", "version": version},
                "autoscaling": {"minReplicas": 2, "maxReplicas": 10},
                "rollout": {"steps": STEPS, "progressDeadlineSeconds": 120},
            }
        )

    def hpa_scaled(sim: Sim, d: Decision, stable_pods: int) -> None:
        """The HPA has the stable Deployment at ``stable_pods``; canary pods become Ready in one tick."""
        rev = d.plan.stable.revision
        sim.obs = Observation(
            stable=TrackObservation(
                rev, stable_pods, stable_pods, stable_pods, stable_pods, stable_pods, True, False
            ),
            canary=live(d.plan.canary, sim.canary_ready),
        )

    sim = Sim()
    hpa_scaled(sim, sim.tick(hpa_spec("1")), 6)
    hpa_scaled(sim, sim.tick(hpa_spec("1"), after=1), 6)
    seen: dict[int, int | None] = {}
    decisions = []
    for _ in range(60):
        d = sim.tick(hpa_spec("2"), after=5)
        decisions.append(d)
        if sim.status.canary is not None and not sim.status.canary.promoting and d.plan.canary is not None:
            seen[sim.status.canary.weight] = d.plan.canary.replicas
        hpa_scaled(sim, d, 6)
    assert all(d.plan.stable.replicas is None for d in decisions)  # spec.replicas left to the HPA
    # stable keeps its 6 pods, so the canary is sized against them: ceil(6 * w / (100 - w)), and at
    # 100% twice stable, capped at maxReplicas 10
    assert seen == {10: 1, 50: 6, 100: 10}
    assert sim.status.stable is not None and sim.status.stable.revision == "r2"  # noqa: PT018

    sim.canary_ready = False
    rolled = []
    for _ in range(30):
        rolled.append(sim.tick(hpa_spec("3"), after=5))
        hpa_scaled(sim, rolled[-1], 6)
    assert sim.phase() == Phase.ROLLED_BACK
    assert all(d.plan.stable.replicas is None for d in rolled)
    assert rolled[-1].plan.canary is not None and rolled[-1].plan.canary.replicas == 0  # noqa: PT018


def test_gateway_route_gives_a_canary_without_ready_pods_nothing_when_promoted_at_once() -> None:
    sim = deployed()
    sim.canary_ready = False
    v2 = spec("2", **GATEWAY)
    sim.tick(v2)
    d = sim.tick(v2, after=1, promoteFull="f")  # before any canary pod is Ready
    assert sim.status.canary is not None and sim.status.canary.promoting  # noqa: PT018
    assert d.plan.canary_weight == 0
