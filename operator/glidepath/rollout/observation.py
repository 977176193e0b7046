"""What the operator saw of the cluster, as plain data the pure layers can decide on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

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


FetchState = Literal["Fetching", "Verified", "Fetched", "FetchFailed", "ChecksumMismatch"]
PERMANENT_FETCH_FAILURES = ("ChecksumMismatch",)
"""Fetch outcomes that retrying cannot fix (the bytes are wrong); transient ones may still succeed."""

_DIGEST = re.compile(r"sha256 ([a-f0-9]{64})")


@dataclass(frozen=True)
class ModelFetch:
    """What the fetcher init containers of a track's pods reported (their termination messages).

    state: Fetching (running or not started), Verified (sha256 checked), Fetched (done, not
    verified), FetchFailed, ChecksumMismatch. digest: the verified sha256, when reported.
    """

    state: FetchState
    message: str
    digest: str | None = None

    @property
    def failed(self) -> bool:
        """The fetch failed (the pod cannot start)."""
        return self.state in ("FetchFailed", "ChecksumMismatch")

    @classmethod
    def from_pods(cls, pods: list[dict[str, Any]], revision: str | None, container: str) -> ModelFetch | None:
        """Summarize the ``container`` init statuses of the pods running ``revision``; None without pods.

        A failure anywhere wins (a checksum mismatch first), then a success, then Fetching. The
        fetcher's message is ``<Reason>: <details>``, Reason being Verified, Fetched, FetchFailed,
        ChecksumMismatch, InvalidModel or InvalidArgument (the last two count as FetchFailed).
        """
        outcomes: list[ModelFetch] = []
        for pod in pods:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if revision is not None and labels.get(naming.LABEL_REVISION) != revision:
                continue
            statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
            status = next((s for s in statuses if s.get("name") == container), None)
            outcomes.append(_outcome(status))
        if not outcomes:
            return None
        order = {"ChecksumMismatch": 0, "FetchFailed": 1, "Verified": 2, "Fetched": 3, "Fetching": 4}
        return min(outcomes, key=lambda o: order[o.state])


def _outcome(status: dict[str, Any] | None) -> ModelFetch:
    if status is None:
        return ModelFetch("Fetching", "waiting for the fetcher to start")
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated")
    terminated = state.get("terminated")
    if terminated is None and last is not None and int(last.get("exitCode", 0)) != 0:
        terminated = last  # crash-looping: the last run tells why
    if terminated is None:
        return ModelFetch("Fetching", "fetching the model")
    message = (terminated.get("message") or "").strip()
    reason = message.split(":", 1)[0] if ":" in message else ""
    if int(terminated.get("exitCode", 0)) == 0:
        match = _DIGEST.search(message)
        if reason == "Verified" and match:
            return ModelFetch("Verified", message, match.group(1))
        return ModelFetch("Fetched", message or "model fetched (not verified)")
    detail = (
        message or f"fetcher exited with {terminated.get('exitCode')} ({terminated.get('reason', 'Error')})"
    )
    return ModelFetch("ChecksumMismatch" if reason == "ChecksumMismatch" else "FetchFailed", detail)


@dataclass(frozen=True)
class Observation:
    """The tracks as reconcile found them: Deployments (None where absent) and their model fetches."""

    stable: TrackObservation | None
    canary: TrackObservation | None = None
    stable_fetch: ModelFetch | None = None
    canary_fetch: ModelFetch | None = None
