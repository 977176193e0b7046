"""e2e tests share the session's LocalCluster with tests/ (see tests/conftest.py)."""

from tests.conftest import control_plane, full_cluster, namespace

__all__ = ["control_plane", "full_cluster", "namespace"]
