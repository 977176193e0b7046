"""compute_status: a pure mapping from observation and outcome to phase and conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from glidepath.api import ModelDeploymentStatus, Phase, PodSource, parse_spec
from glidepath.plan import Plan, TrackPlan
from glidepath.rollout import Decision, ModelFetch, Observation, Outcome, TrackObservation, compute_status

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
SPEC = parse_spec({"model": {"uri": "file:///m.onnx", "version": "7"}, "replicas": 2})
OUTCOME = Outcome(url="http://m.ns.svc.cluster.local:8080", service_monitor="applied")
DECISION = Decision(plan=Plan(TrackPlan(PodSource.of(SPEC), "abc", 2)))


def track(
    desired: int = 2,
    replicas: int = 2,
    updated: int = 2,
    ready: int = 2,
    available: int = 2,
    revision: str = "abc",
    synced: bool = True,
    deadline: bool = False,
) -> TrackObservation:
    return TrackObservation(revision, desired, replicas, updated, ready, available, synced, deadline)


def conditions(status: ModelDeploymentStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


@pytest.mark.parametrize(
    ("stable", "outcome", "phase", "ready", "progressing", "degraded"),
    [
        (
            None,
            OUTCOME,
            Phase.PROGRESSING,
            ("False", "Pending"),
            ("True", "Creating"),
            ("False", "AsExpected"),
        ),
        (
            track(),
            OUTCOME,
            Phase.HEALTHY,
            ("True", "Available"),
            ("False", "RolledOut"),
            ("False", "AsExpected"),
        ),
        (
            track(ready=0, available=0),
            OUTCOME,
            Phase.PROGRESSING,
            ("False", "ReplicasNotReady"),
            ("True", "RollingUpdate"),
            ("False", "AsExpected"),
        ),
        (  # a rolling update with maxUnavailable 0: still serving at full capacity
            track(replicas=3, updated=1),
            OUTCOME,
            Phase.PROGRESSING,
            ("True", "Available"),
            ("True", "RollingUpdate"),
            ("False", "AsExpected"),
        ),
        (
            track(available=1, ready=1),
            OUTCOME,
            Phase.PROGRESSING,
            ("False", "PartiallyAvailable"),
            ("True", "RollingUpdate"),
            ("False", "AsExpected"),
        ),
        (
            track(synced=False),
            OUTCOME,
            Phase.PROGRESSING,
            ("False", "PartiallyAvailable"),
            ("True", "RollingUpdate"),
            ("False", "AsExpected"),
        ),
        (
            track(ready=0, available=0, deadline=True),
            OUTCOME,
            Phase.DEGRADED,
            ("False", "ReplicasNotReady"),
            ("True", "RollingUpdate"),
            ("True", "ProgressDeadlineExceeded"),
        ),
        (
            track(),
            Outcome(url=None, error="apply refused: x", service_monitor="applied"),
            Phase.DEGRADED,
            ("True", "Available"),
            ("False", "RolledOut"),
            ("True", "ApplyFailed"),
        ),
        (
            track(desired=0, replicas=0, updated=0, ready=0, available=0),
            OUTCOME,
            Phase.HEALTHY,
            ("True", "Available"),
            ("False", "RolledOut"),
            ("False", "AsExpected"),
        ),
    ],
)
def test_phase_and_conditions(
    stable: TrackObservation | None,
    outcome: Outcome,
    phase: Phase,
    ready: tuple[str, str],
    progressing: tuple[str, str],
    degraded: tuple[str, str],
) -> None:
    status = compute_status(3, Observation(stable=stable), DECISION, outcome, ModelDeploymentStatus(), T0)
    assert status.phase == phase
    conds = conditions(status)
    assert conds["Ready"] == ready
    assert conds["Progressing"] == progressing
    assert conds["Degraded"] == degraded
    assert status.observed_generation == 3
    assert all(c.observed_generation == 3 for c in status.conditions)


def test_last_transition_time_moves_only_when_status_changes() -> None:
    first = compute_status(
        1, Observation(stable=track(ready=0, available=0)), DECISION, OUTCOME, ModelDeploymentStatus(), T0
    )
    later = T0 + timedelta(minutes=5)
    same = compute_status(1, Observation(stable=track(ready=1, available=1)), DECISION, OUTCOME, first, later)
    assert same.condition("Ready").last_transition_time == T0  # type: ignore[union-attr]
    flipped = compute_status(1, Observation(stable=track()), DECISION, OUTCOME, same, later)
    assert flipped.condition("Ready").last_transition_time == later  # type: ignore[union-attr]
    again = compute_status(
        1, Observation(stable=track()), DECISION, OUTCOME, flipped, later + timedelta(minutes=1)
    )
    assert again == flipped  # nothing changed: an equal status, so reconcile writes nothing


def test_stable_track_status() -> None:
    status = compute_status(
        1, Observation(stable=track(replicas=2, ready=1)), DECISION, OUTCOME, ModelDeploymentStatus(), T0
    )
    assert status.stable is not None
    assert (status.stable.revision, status.stable.version, status.stable.uri) == (
        "abc",
        "7",
        "file:///m.onnx",
    )
    assert (status.stable.replicas, status.stable.ready_replicas) == (2, 1)
    assert status.url == OUTCOME.url


@pytest.mark.parametrize(
    ("state", "expected"),
    [("applied", ("True", "Applied")), ("skipped", ("False", "CRDNotInstalled")), ("disabled", None)],
)
def test_service_monitor_condition(state: str, expected: tuple[str, str] | None) -> None:
    outcome = Outcome(url=None, service_monitor=state)
    previous = compute_status(1, Observation(stable=track()), DECISION, OUTCOME, ModelDeploymentStatus(), T0)
    status = compute_status(1, Observation(stable=track()), DECISION, outcome, previous, T0)
    assert conditions(status).get("ServiceMonitor") == expected


def test_observation_from_deployment() -> None:
    deployment = {
        "metadata": {"generation": 4},
        "spec": {
            "replicas": 3,
            "template": {"metadata": {"annotations": {"serving.glidepath.io/revision": "r1"}}},
        },
        "status": {
            "observedGeneration": 4,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
        },
    }
    obs = TrackObservation.from_deployment(deployment)
    assert obs == TrackObservation("r1", 3, 3, 3, 2, 2, True, True)
    assert not obs.rolled_out
    assert TrackObservation.from_deployment({"metadata": {"generation": 2}, "spec": {}}).synced is False


def test_invalid_spec_keeps_the_rollout_fields() -> None:
    previous = compute_status(1, Observation(stable=track()), DECISION, OUTCOME, ModelDeploymentStatus(), T0)
    outcome = Outcome(url=None, error="spec.model.uri: bad", error_reason="InvalidSpec")
    status = compute_status(2, Observation(stable=track()), None, outcome, previous, T0)
    assert status.phase == Phase.DEGRADED
    assert conditions(status)["Degraded"] == ("True", "InvalidSpec")
    assert status.stable == previous.stable
    assert status.observed_generation == 2


def pod(revision: str, state: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
    status = {"name": "fetch-model", "state": state, "lastState": {"terminated": last} if last else {}}
    return {
        "metadata": {"labels": {"serving.glidepath.io/revision": revision}},
        "status": {"initContainerStatuses": [status]},
    }


DIGEST = "ab" * 32
VERIFIED = {
    "terminated": {
        "exitCode": 0,
        "message": f"Verified: sha256 {DIGEST} of s3://m/k (file, 9 bytes) -> /mnt/models/k",
    }
}
MISMATCH = {
    "exitCode": 4,
    "message": f"ChecksumMismatch: sha256 mismatch for s3://m/k: expected {'0' * 64}, got {DIGEST}",
}


@pytest.mark.parametrize(
    ("pods", "state", "digest"),
    [
        ([], None, None),
        ([pod("r1", {"running": {}})], "Fetching", None),
        ([pod("r1", VERIFIED)], "Verified", DIGEST),
        ([pod("r1", {"terminated": {"exitCode": 0}})], "Fetched", None),  # e.g. kwok: no message
        (
            [pod("r1", VERIFIED), pod("r1", {"waiting": {"reason": "CrashLoopBackOff"}}, MISMATCH)],
            "ChecksumMismatch",
            None,
        ),
        (
            [
                pod(
                    "r1",
                    {"terminated": {"exitCode": 3, "message": "FetchFailed: cannot fetch s3://m/k: 403"}},
                )
            ],
            "FetchFailed",
            None,
        ),
        (
            [
                pod(
                    "r1",
                    {"terminated": {"exitCode": 6, "message": "InvalidModel: archive entry ../x escapes"}},
                )
            ],
            "FetchFailed",
            None,
        ),
        ([pod("r0", {"terminated": MISMATCH})], None, None),  # another revision's pod says nothing
    ],
)
def test_model_fetch_from_pods(pods: list[dict[str, Any]], state: str | None, digest: str | None) -> None:
    fetch = ModelFetch.from_pods(pods, "r1", "fetch-model")
    assert (fetch.state if fetch else None) == state
    assert (fetch.digest if fetch else None) == digest


def test_model_ready_condition_and_digest() -> None:
    verified = ModelFetch.from_pods([pod("abc", VERIFIED)], "abc", "fetch-model")
    status = compute_status(
        1, Observation(stable=track(), stable_fetch=verified), DECISION, OUTCOME, ModelDeploymentStatus(), T0
    )
    assert conditions(status)["ModelReady"] == ("True", "Verified")
    assert status.stable is not None
    assert status.stable.model_digest == DIGEST

    failing = ModelFetch.from_pods([pod("abc", {"terminated": MISMATCH})], "abc", "fetch-model")
    live = track(ready=0, available=0)
    status = compute_status(1, Observation(stable=live, stable_fetch=failing), DECISION, OUTCOME, status, T0)
    assert conditions(status)["ModelReady"] == ("False", "ChecksumMismatch")
    assert conditions(status)["Ready"] == ("False", "ChecksumMismatch")
    assert "expected 000" in next(c.message for c in status.conditions if c.type == "Ready")
    assert status.stable is not None
    assert status.stable.model_digest is None
