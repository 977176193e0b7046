"""Capture a ModelDeployment's live status as test data (the Argo CD health check's test cases).

    from tests.support.capture import capture_status, save_status
    obj = capture_status(cluster, "ml", "fraud")          # what Argo CD's health check would read
    save_status(obj, "RolledBack")                         # -> tests/chart/statuses/RolledBack.json

``tests/chart/test_argocd_health.py`` runs the health check over every JSON file in that folder, so a
capture taken in any e2e test (say, right after a canary rolled back) is covered once it is saved.
The chart tests save their own captures only when ``GLIDEPATH_CAPTURE_STATUSES=1`` (see
:func:`capturing`), so a normal run never rewrites test data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from tests.support.cluster import LocalCluster

STATUSES_DIR: Final = Path(__file__).resolve().parents[1] / "chart" / "statuses"
"""Where captured statuses live: ``<label>.json``, label = phase or a case name (``stale-generation``)."""


def capture_status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    """The live ModelDeployment ``namespace/name`` trimmed to what a health check reads.

    Keeps apiVersion, kind, metadata.name and metadata.generation, spec and status exactly as served;
    drops what differs run to run and means nothing to a health check (namespace, uid, resourceVersion,
    managedFields, timestamps of metadata). Raises subprocess.CalledProcessError if it does not exist.
    """
    live = json.loads(cluster.kubectl("get", "modeldeployment", name, "-n", namespace, "-o", "json").stdout)
    meta = live["metadata"]
    return {
        "apiVersion": live["apiVersion"],
        "kind": live["kind"],
        "metadata": {"name": meta["name"], "generation": meta.get("generation", 1)},
        "spec": live.get("spec", {}),
        "status": live.get("status", {}),
    }


def save_status(obj: dict[str, Any], label: str, directory: Path = STATUSES_DIR) -> Path:
    """Write ``obj`` (from :func:`capture_status`) to ``<directory>/<label>.json``; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{label}.json"
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return path


def capturing() -> bool:
    """Whether this run should (re)write captures: ``GLIDEPATH_CAPTURE_STATUSES=1``."""
    return os.environ.get("GLIDEPATH_CAPTURE_STATUSES", "") not in ("", "0")
