"""The Argo CD health check (charts/glidepath/files/argocd-health.lua) run by a real Lua 5.1 (lupa;
Argo CD runs gopher-lua, a Lua 5.1): over every status captured from real runs in
tests/chart/statuses/, over hand-written edge cases, and over live ModelDeployments made by the
chart's operator in each phase it can reach today.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from lupa.lua51 import LuaRuntime  # type: ignore[import-untyped]

from tests.chart.conftest import Release
from tests.chart.support import CHART, get_json
from tests.support.capture import STATUSES_DIR, capture_status, capturing, save_status
from tests.support.cluster import NEVER_READY_ENV, wait_for

LUA = CHART / "files" / "argocd-health.lua"
CAPTURED = sorted(STATUSES_DIR.glob("*.json"))
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
PHASE_TO_HEALTH = {
    "Healthy": "Healthy",
    "Progressing": "Progressing",
    None: "Progressing",
    "Paused": "Suspended",
    "RolledBack": "Degraded",
    "Degraded": "Degraded",
}


def _to_lua(lua: Any, value: Any) -> Any:
    """A JSON value as Argo CD hands it to Lua: objects and arrays as tables (1-based), null as nil."""
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items() if v is not None})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> dict[str, str]:
    """Run the health check on ``obj`` as Argo CD does (global ``obj``, script returns a table)."""
    lua = LuaRuntime()
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(LUA.read_text())
    return {"status": result["status"], "message": result["message"]}


def expected(obj: dict[str, Any]) -> str:
    """The mapping the check promises, written independently of the Lua."""
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if not status or observed is None or observed < obj["metadata"].get("generation", 0):
        return "Progressing"
    return PHASE_TO_HEALTH.get(status.get("phase"), "Unknown")


def condition_message(obj: dict[str, Any], type_: str) -> str:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c.get("message", "") for c in conds if c["type"] == type_), "")


def test_statuses_were_captured_in_every_phase() -> None:
    """Every phase, captured from real runs (the canary ones by e2e/test_canary.py with
    GLIDEPATH_CAPTURE_STATUSES=1), and a stale observedGeneration."""
    labels = {p.stem for p in CAPTURED}
    assert {"Healthy", "Progressing", "Paused", "RolledBack", "Degraded", "stale-generation"} <= labels


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
def test_health_of_captured_status(path: Path) -> None:
    obj = json.loads(path.read_text())
    result = health(obj)
    assert result["status"] == expected(obj)
    assert result["message"]
    phase = obj["status"].get("phase")
    if result["status"] == "Degraded" and phase == "Degraded":
        assert condition_message(obj, "Degraded") in result["message"]
    if path.stem == "stale-generation":
        assert str(obj["metadata"]["generation"]) in result["message"]
    if phase == "Paused":  # the canary's own words: what it waits for
        assert obj["status"]["canary"]["message"] in result["message"]
    if phase == "RolledBack":  # why, with the failing figure
        assert result["message"].startswith("Rolled back: ")
        assert obj["status"]["failed"]["message"] in result["message"]


def _obj(status: dict[str, Any] | None, generation: int = 3) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "serving.glidepath.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "generation": generation},
    }
    if status is not None:
        body["status"] = status
    return body


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


CANARY = {"revision": "b2", "version": "4", "weight": 10, "step": 0, "message": "waiting for promote"}


@pytest.mark.parametrize(
    ("status", "generation", "want", "message_has"),
    [
        (None, 1, "Progressing", "Waiting for the Glidepath operator"),
        ({}, 1, "Progressing", "observe generation 1"),
        ({"observedGeneration": 2, "phase": "Healthy"}, 3, "Progressing", "status is of generation 2"),
        ({"observedGeneration": 3, "phase": "Degraded"}, 4, "Progressing", "generation 4"),
        ({"observedGeneration": 3}, 3, "Progressing", "Progressing"),
        (
            {
                "observedGeneration": 3,
                "phase": "Healthy",
                "stable": {"version": "3", "replicas": 2, "readyReplicas": 2},
            },
            3,
            "Healthy",
            "model version 3, 2/2 pods ready",
        ),
        (
            {
                "observedGeneration": 3,
                "phase": "Progressing",
                "canary": {**CANARY, "message": "analysis 1/3 passed"},
            },
            3,
            "Progressing",
            "canary version 4 at 10% of traffic step 0: analysis 1/3 passed",
        ),
        (
            {"observedGeneration": 3, "phase": "Paused", "canary": CANARY},
            3,
            "Suspended",
            "waiting for promote",
        ),
        ({"observedGeneration": 3, "phase": "Paused"}, 3, "Suspended", "Paused"),
        (
            {
                "observedGeneration": 3,
                "phase": "RolledBack",
                "conditions": [
                    _cond("Degraded", "True", "RolledBack", "error-rate 0.2 > 0.01 (3 failed checks)")
                ],
            },
            3,
            "Degraded",
            "Rolled back: error-rate 0.2 > 0.01",
        ),
        ({"observedGeneration": 3, "phase": "RolledBack"}, 3, "Degraded", "Rolled back"),
        (
            {
                "observedGeneration": 3,
                "phase": "Degraded",
                "conditions": [_cond("Degraded", "True", "ApplyFailed", "apply refused: limits < requests")],
            },
            3,
            "Degraded",
            "apply refused: limits < requests",
        ),
        ({"observedGeneration": 3, "phase": "Exploded"}, 3, "Unknown", "Unknown phase Exploded"),
    ],
)
def test_health_mapping(status: dict[str, Any] | None, generation: int, want: str, message_has: str) -> None:
    obj = _obj(status, generation)
    result = health(obj)
    assert result["status"] == want == expected(obj)
    assert result["status"] in ARGO_STATUSES
    assert message_has in result["message"]


# -- live: the chart's operator makes each phase, and the check reads it -------------------------------

MODEL = {"uri": "http://127.0.0.1:1/model.onnx", "version": "1"}


def _apply(release: Release, namespace: str, name: str, spec: dict[str, Any]) -> None:
    md = {
        "apiVersion": "serving.glidepath.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"model": MODEL, **spec},
    }
    release.cluster.kubectl(
        "apply", "--server-side", "--field-manager=capture", "-f", "-", stdin=json.dumps(md)
    )


def _wait_phase(release: Release, namespace: str, name: str, phase: str) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        md = get_json(release.cluster, "modeldeployment", name, "-n", namespace)
        status = md.get("status") or {}
        fresh = status.get("observedGeneration") == md["metadata"]["generation"]
        return md if fresh and status.get("phase") == phase else None

    return wait_for(current, timeout=60, interval=0.3, what=f"{namespace}/{name} phase {phase}")


def test_health_of_live_statuses(release: Release, namespace: str) -> None:
    """Healthy, Progressing (pods never Ready), Degraded (an apply the API server refuses: requests
    above limits) and a stale observedGeneration (spec changed while the operator was down), each
    read by the check. With GLIDEPATH_CAPTURE_STATUSES=1 they are saved as tests/chart/statuses/*."""
    cases: dict[str, dict[str, Any]] = {
        "Healthy": {"replicas": 1},
        "Progressing": {"replicas": 1, "runtime": {"env": [{"name": NEVER_READY_ENV, "value": "true"}]}},
        "Degraded": {
            "replicas": 1,
            "runtime": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
        },
    }
    for phase, spec in cases.items():
        _apply(release, namespace, phase.lower(), spec)
    captured: dict[str, dict[str, Any]] = {}
    for phase in cases:
        _wait_phase(release, namespace, phase.lower(), phase)
        captured[phase] = capture_status(release.cluster, namespace, phase.lower())
        assert health(captured[phase])["status"] == PHASE_TO_HEALTH[phase]

    release.operator.stop(signal.SIGTERM)
    try:
        release.cluster.kubectl(
            "patch", "md", "healthy", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 2}}'
        )
        captured["stale-generation"] = stale = capture_status(release.cluster, namespace, "healthy")
        assert stale["status"]["observedGeneration"] < stale["metadata"]["generation"]
        assert stale["status"]["phase"] == "Healthy"
        assert health(stale)["status"] == "Progressing"
    finally:
        release.operator.start()
        release.operator.wait_healthy()
    _wait_phase(release, namespace, "healthy", "Healthy")
    if capturing():
        for label, obj in captured.items():
            save_status(obj, label)
