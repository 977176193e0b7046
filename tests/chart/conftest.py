"""Fixtures of the chart tests: helm, the Prometheus-operator CRDs, and the chart installed as the docs
say with its operator running as the chart's ServiceAccount.

The chart tests that use the session's cluster run last (see ``pytest_collection_modifyitems``): they
install third-party CRDs (monitoring.coreos.com) and a Helm release into the shared cluster, and tests
elsewhere (tests/integration) assume a cluster without the ServiceMonitor CRD.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chart.support import (
    Helm,
    Obj,
    PodProcess,
    adopt_into_release,
    find_helm,
    get_json,
    install_commands,
    install_crd_file,
    service_account_kubeconfig,
)
from tests.support.cluster import LocalCluster

HERE = Path(__file__).parent
REPO = HERE.parents[1]
THIRD_PARTY_CRDS = {
    "prometheus-operator": (
        "monitoring.coreos.com_servicemonitors.yaml",
        "monitoring.coreos.com_prometheusrules.yaml",
    ),
    "gateway-api": ("gateway.networking.k8s.io_httproutes.yaml",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here `chart`, and move those that use the cluster after all other tests."""
    mine, theirs = [], []
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chart)
            names = getattr(item, "fixturenames", ())
            if "control_plane" in names or "full_cluster" in names:
                mine.append(item)
                continue
        theirs.append(item)
    items[:] = theirs + mine


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The real helm (built from its Go module, cached), with private config/cache dirs."""
    return Helm(find_helm(), tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def third_party_crds(control_plane: LocalCluster) -> LocalCluster:
    """The cluster with the third-party CRDs the chart and the operator use: ServiceMonitor and
    PrometheusRule (prometheus-operator), HTTPRoute (Gateway API), from their Go module downloads
    (hack/third-party-crds.sh)."""
    for module, files in THIRD_PARTY_CRDS.items():
        out = subprocess.run(
            ["bash", str(REPO / "hack" / "third-party-crds.sh"), module],
            capture_output=True,
            text=True,
            check=True,
        )
        folder = Path(out.stdout.strip().splitlines()[-1])
        for name in files:
            install_crd_file(control_plane, folder / name)
    return control_plane


@dataclass
class Release:
    """The chart installed as docs/install.md says, and its operator pod run locally as its
    ServiceAccount (see PodProcess)."""

    name: str
    namespace: str
    cluster: LocalCluster
    kubeconfig: Path
    operator: PodProcess
    remaining_commands: list[str]

    def deployment(self) -> Obj:
        """The operator's live Deployment."""
        return get_json(self.cluster, "deployment", self.name, "-n", self.namespace)


def run_commands(helm: Helm, cluster: LocalCluster, commands: list[str]) -> None:
    """Run shell commands as a user would, with kubectl and helm on PATH and KUBECONFIG set.

    Raises AssertionError naming the command that failed, with its output.
    """
    env = helm.env(cluster)
    for command in commands:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=330,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"`{command}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def release(
    full_cluster: LocalCluster,
    helm: Helm,
    third_party_crds: LocalCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """Run the docs' install commands up to the operator's rollout, then the operator pod's process.

    A ModelDeployment CRD left by earlier tests (kubectl apply) is adopted into the release first, as
    docs/install.md tells users who installed it with kubectl.
    """
    commands = install_commands()
    helm_line = next(c for c in commands if c.startswith("helm install"))
    words = helm_line.split()
    name = words[2]
    ns = words[words.index("--namespace") + 1]
    rollout = next(i for i, c in enumerate(commands) if "rollout status" in c)
    crd = "customresourcedefinition/modeldeployments.serving.glidepath.io"
    if full_cluster.kubectl("get", crd, "--ignore-not-found", "-o", "name").stdout.strip():
        adopt_into_release(full_cluster, crd, name, ns)
    run_commands(helm, full_cluster, commands[: rollout + 1])

    tmp = tmp_path_factory.mktemp("release")
    deployment = get_json(full_cluster, "deployment", name, "-n", ns)
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = service_account_kubeconfig(full_cluster, ns, account, tmp / "sa-kubeconfig")
    operator = PodProcess(deployment, kubeconfig, tmp / "operator.log", pod_name=f"{name}-local-0")
    operator.start()
    operator.wait_healthy()
    yield Release(name, ns, full_cluster, kubeconfig, operator, commands[rollout + 1 :])
    operator.stop()
