"""Fixtures for tests against the real API server: the CRD installed, a client, a reconciler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from glidepath.k8s import Kube, connect
from glidepath.reconcile import Reconciler, Settings

from tests.support.cluster import LocalCluster, install_crd, third_party_crd

__all__ = ["install_crd", "third_party_crd"]

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "serving.glidepath.io_modeldeployments.yaml"


@pytest.fixture(scope="session")
def crd(control_plane: LocalCluster) -> LocalCluster:
    """The control plane with the ModelDeployment CRD from crds/ installed."""
    install_crd(control_plane, CRD_FILE)
    return control_plane


@pytest.fixture
def kube(crd: LocalCluster) -> Iterator[Kube]:
    """A Kube client (the operator's own) for the local control plane."""
    client = connect(str(crd.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def reconciler(kube: Kube) -> Reconciler:
    """A Reconciler with no discovery cache, so each reconcile sees CRDs installed just before."""
    return Reconciler(kube, Settings(runtime_image="glidepath/onnxruntime-server:test", discovery_ttl=0))
