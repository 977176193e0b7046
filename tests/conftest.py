"""Shared pytest fixtures: one local control plane per test session, and a namespace per test.

`control_plane` (etcd + kube-apiserver) and `full_cluster` (+ kwok, kube-controller-manager,
kube-scheduler) are the same LocalCluster: it starts with what is first asked for and gains the other
components when `full_cluster` is first used. So a test on `control_plane` may find controllers running;
it must not rely on their absence. Tests using them are marked `integration` / `e2e` automatically, so
`pytest -m "not integration and not e2e"` runs only the unit tests.

The cluster is kept in the pytest config's stash, so a conftest elsewhere (e.g. e2e/conftest.py) that
imports these fixtures shares it too. The first use may build the binaries (minutes, cold); set
GLIDEPATH_BIN_DIR to use prebuilt ones, GLIDEPATH_KEEP_CLUSTER=1 to keep the work dir and its logs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.support.cluster import ALL_COMPONENTS, LocalCluster

_CLUSTER = pytest.StashKey[LocalCluster]()


def _shared_cluster(config: pytest.Config) -> LocalCluster:
    """The session's one LocalCluster, created (not started) on first call and stopped at exit."""
    if _CLUSTER not in config.stash:
        cluster = config.stash[_CLUSTER] = LocalCluster()
        config.add_cleanup(cluster.stop)
    return config.stash[_CLUSTER]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the full cluster `e2e`, and tests that use only the control plane `integration`."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "full_cluster" in names:
            item.add_marker(pytest.mark.e2e)
        elif "control_plane" in names:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane(pytestconfig: pytest.Config) -> LocalCluster:
    """A running kube-apiserver + etcd (possibly with more components), shared by the whole session."""
    cluster = _shared_cluster(pytestconfig)
    if not cluster.running:
        cluster.start()
    return cluster


@pytest.fixture(scope="session")
def full_cluster(control_plane: LocalCluster) -> LocalCluster:
    """The shared cluster with kwok (one Ready fake node), kube-controller-manager and kube-scheduler."""
    control_plane.add(*ALL_COMPONENTS)
    return control_plane


@pytest.fixture
def namespace(control_plane: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) after it.

    If the test also uses `full_cluster`, that is set up first, so the namespace's `default`
    ServiceAccount (needed to create pods) exists before the test starts.
    """
    if "full_cluster" in request.fixturenames:
        request.getfixturevalue("full_cluster")
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    control_plane.create_namespace(name)
    yield name
    if control_plane.running:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
