"""A local Kubernetes control plane for integration and e2e tests, built from source, no containers.

`LocalCluster` runs etcd and kube-apiserver, and on request kube-controller-manager, kube-scheduler and
kwok (fake nodes that make scheduled pods Running and Ready), all as child processes on 127.0.0.1:

    with LocalCluster(ALL_COMPONENTS) as cluster:
        cluster.kubectl("get", "nodes")

Binaries come from `hack/build-control-plane.sh all` (built once, cached per version), or from the
directory in `$GLIDEPATH_BIN_DIR`. Each cluster lives in a fresh temporary work dir (etcd data, certs,
kubeconfig, one log file per process under `logs/`), removed by `stop()` unless `$GLIDEPATH_KEEP_CLUSTER`
is set. Nothing outside the work dir is read or written: not ~/.kube, not ~/.kwok, not kubectl's cache.

kwok pods that must never become Ready (say, a canary whose readiness never comes): mark the pod with
the annotation `glidepath.test/kwok-never-ready: "true"` (see `mark_never_ready`) or give one of its
containers the env var `GLIDEPATH_KWOK_NEVER_READY=true` (reachable through a ModelDeployment's
`spec.runtime.env`). Such pods turn Running with Ready=False, like a failing readiness probe, until the
mark is removed from the pod. The annotation `pod-ready.stage.kwok.x-k8s.io/delay: "5s"` delays
readiness instead. Other ways that need no stage: a resource request larger than the fake node
(`NODE_CAPACITY`) keeps the pod Pending (unschedulable). The stages are in `kwok_stages.yaml`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, TypeVar, get_args

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "ALL_COMPONENTS",
    "CONTEXT",
    "HANDS_OFF_ANNOTATION",
    "NEVER_READY_ANNOTATION",
    "NEVER_READY_ENV",
    "NODE_CAPACITY",
    "ClusterError",
    "Component",
    "LocalCluster",
    "find_bin_dir",
    "install_crd",
    "mark_never_ready",
    "third_party_crd",
    "wait_for",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
BUILD_SCRIPT: Final = REPO_ROOT / "hack" / "build-control-plane.sh"
KWOK_STAGES: Final = Path(__file__).with_name("kwok_stages.yaml")

CONTEXT: Final = "glidepath-local"
"""Name of the cluster, user and context in the kubeconfig the harness writes."""
ADMIN_USER: Final = "glidepath-admin"
SERVICE_CIDR: Final = "10.96.0.0/16"
POD_CIDR: Final = "10.244.0.0/16"
SA_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"

KWOK_NODE_ANNOTATION: Final = "kwok.x-k8s.io/node"
NEVER_READY_ANNOTATION: Final = "glidepath.test/kwok-never-ready"
NEVER_READY_ENV: Final = "GLIDEPATH_KWOK_NEVER_READY"
HANDS_OFF_ANNOTATION: Final = "glidepath.test/kwok-hands-off"
"""kwok leaves the status of a pod with this annotation ("true") to the test, which plays the kubelet."""
NODE_CAPACITY: Final = {"cpu": "32", "memory": "256Gi", "pods": "110"}
"""Capacity (= allocatable) of each fake node; a pod requesting more stays Pending."""

Component = Literal["kwok", "kube-controller-manager", "kube-scheduler"]
"""Optional components; etcd and kube-apiserver always run."""
ALL_COMPONENTS: Final[tuple[Component, ...]] = get_args(Component)
_BINARIES: Final = ("etcd", "kube-apiserver", "kubectl", *ALL_COMPONENTS)


class ClusterError(RuntimeError):
    """The control plane could not be built, started or reached."""


def wait_for(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `condition` until it returns a truthy value, and return that value.

    `timeout` and `interval` are in seconds. Raises TimeoutError naming `what` when time runs out;
    exceptions from `condition` propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def install_crd(cluster: LocalCluster, path: Path) -> None:
    """Apply a CRD file (server-side) and wait until it is Established.

    Raises subprocess.CalledProcessError when the API server refuses it, TimeoutError after 60 s.
    """
    cluster.kubectl("apply", "--server-side", "--field-manager=glidepath-tests", "-f", str(path))
    jsonpath = '{.status.conditions[?(@.type=="Established")].status}'

    def established() -> bool:
        # `kubectl wait` fails outright while status.conditions is still absent, so poll instead
        got = cluster.kubectl("get", "-f", str(path), "-o", f"jsonpath={jsonpath}", check=False)
        return got.returncode == 0 and got.stdout.strip() == "True"

    wait_for(established, timeout=60, interval=0.2, what=f"CRD {path.name} Established")
    # Established comes before discovery lists the new resource (the discovery controller catches up
    # asynchronously); wait for discovery too, as clients that check it first would see otherwise.
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                _wait_discovered(cluster, f"{spec['group']}/{version['name']}", spec["names"]["plural"])


def _wait_discovered(cluster: LocalCluster, group_version: str, plural: str) -> None:
    def listed() -> bool:
        got = cluster.kubectl("get", "--raw", f"/apis/{group_version}", check=False)
        if got.returncode != 0:
            return False
        return any(r.get("name") == plural for r in json.loads(got.stdout).get("resources") or [])

    wait_for(listed, timeout=60, interval=0.2, what=f"{plural}.{group_version} in discovery")


def third_party_crd(name: str, file: str) -> Path:
    """Path of a third party's CRD file from its Go module download (see hack/third-party-crds.sh)."""
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "third-party-crds.sh"), name],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip().splitlines()[-1]) / file


def mark_never_ready(pod_template: dict[str, Any]) -> dict[str, Any]:
    """Annotate a pod template (or a pod) so that kwok runs its pods but never makes them Ready.

    Mutates and returns `pod_template`; it must have the pod shape (`metadata`, `spec`).
    """
    pod_template.setdefault("metadata", {}).setdefault("annotations", {})[NEVER_READY_ANNOTATION] = "true"
    return pod_template


def find_bin_dir() -> Path:
    """Return the directory holding all control-plane binaries.

    `$GLIDEPATH_BIN_DIR` if set; otherwise the last stdout line of `hack/build-control-plane.sh all`,
    which builds missing binaries first (a cold build takes minutes; warm, it is instant).
    Raises ClusterError if the build fails or a binary is missing.
    """
    if env_dir := os.environ.get("GLIDEPATH_BIN_DIR"):
        bin_dir = Path(env_dir)
    else:
        # stderr (build progress) goes to ours; stdout's last line is the answer.
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "all"], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=False
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise ClusterError(f"{BUILD_SCRIPT} all failed with exit code {proc.returncode}")
        bin_dir = Path(lines[-1])
    if missing := [b for b in _BINARIES if not os.access(bin_dir / b, os.X_OK)]:
        raise ClusterError(f"missing executables in {bin_dir}: {', '.join(missing)}")
    return bin_dir


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def check_alive(self) -> None:
        """Raise ClusterError with the tail of the log if the process has exited."""
        if (code := self.popen.poll()) is not None:
            self.log_file.flush()
            tail = self.log_path.read_text(errors="replace").splitlines()[-25:]
            raise ClusterError(
                f"{self.name} exited with code {code}; last lines of {self.log_path}"
                " (kept only with GLIDEPATH_KEEP_CLUSTER=1):\n" + "\n".join(tail)
            )


class LocalCluster:
    """etcd + kube-apiserver, plus the optional `components`, as local processes on 127.0.0.1.

    Use as a context manager, or call `start()` and `stop()`. Once started, `add()` starts further
    components. `timings` holds startup durations in seconds, keyed by phase
    ("binaries", "etcd", "kube-apiserver", "kwok", "kube-controller-manager", "kube-scheduler", "start").

    Arguments:
        components: optional components to run: "kwok", "kube-controller-manager", "kube-scheduler".
        bin_dir: directory of the binaries; default `find_bin_dir()`.
        kwok_nodes: number of fake nodes created for kwok (named kwok-node-0, ...).
        extra_args: extra command-line flags per process name (e.g. {"kube-controller-manager":
            ["--horizontal-pod-autoscaler-sync-period=2s"]}); they come last, so they override ours.
        startup_timeout: seconds each process may take to become ready.
    """

    def __init__(
        self,
        components: Iterable[Component] = (),
        *,
        bin_dir: Path | None = None,
        kwok_nodes: int = 1,
        extra_args: Mapping[str, Sequence[str]] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self._wanted = list(components)
        self._bin_dir = bin_dir
        self._kwok_nodes = kwok_nodes
        self._extra_args = dict(extra_args or {})
        self._startup_timeout = startup_timeout
        self._workdir: Path | None = None
        self._server = ""
        self._etcd_url = ""
        self._admin_token = secrets.token_hex(24)
        self._procs: dict[str, _Process] = {}
        self._health_ports: dict[str, int] = {}
        self.timings: dict[str, float] = {}

    # -- public API ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether start() has succeeded and stop() not yet been called."""
        return "kube-apiserver" in self._procs

    @property
    def components(self) -> tuple[str, ...]:
        """Names of the processes started so far, in start order."""
        return tuple(self._procs)

    @property
    def workdir(self) -> Path:
        """Temporary directory of this cluster: certs, keys, kubeconfig, etcd data, logs/."""
        if self._workdir is None:
            raise ClusterError("cluster not started")
        return self._workdir

    @property
    def bin_dir(self) -> Path:
        """Directory holding the binaries (resolved on first use; see find_bin_dir())."""
        if self._bin_dir is None:
            t0 = time.monotonic()
            self._bin_dir = find_bin_dir()
            self.timings["binaries"] = time.monotonic() - t0
        return self._bin_dir

    @property
    def server(self) -> str:
        """HTTPS URL of kube-apiserver, e.g. https://127.0.0.1:41234."""
        if not self._server:
            raise ClusterError("cluster not started")
        return self._server

    @property
    def kubeconfig(self) -> Path:
        """Kubeconfig with the admin user (group system:masters), context and current-context CONTEXT."""
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """PEM bundle that verifies the apiserver's serving certificate (self-signed by the apiserver)."""
        return self.workdir / "pki" / "apiserver.crt"

    @property
    def admin_token(self) -> str:
        """Bearer token of the admin user (static token file, group system:masters)."""
        return self._admin_token

    @property
    def log_dir(self) -> Path:
        """Directory with one `<process>.log` per process."""
        return self.workdir / "logs"

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalCluster:
        """Start etcd, kube-apiserver and the requested components; return when all are ready.

        Raises ClusterError if a process exits or the binaries are unavailable, TimeoutError if one is
        not ready within `startup_timeout` seconds. On failure everything started is stopped again.
        """
        if self._procs:
            raise ClusterError("cluster already started")
        t0 = time.monotonic()
        try:
            self._start_control_plane()
            self.add(*self._wanted)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - t0
        log.info("local cluster up at %s in %.1fs: %s", self._server, self.timings["start"], self.timings)
        return self

    def add(self, *components: Component) -> None:
        """Start those of `components` not running yet (on a started cluster); return when they are ready.

        kwok also gets its fake nodes created and Ready; with kube-controller-manager, the `default`
        ServiceAccount exists on return. Raises like start().
        """
        if not self.running:
            raise ClusterError("cluster not started")
        todo = [c for c in ALL_COMPONENTS if c in components and c not in self._procs]
        if "kwok" in todo:
            self._create_kwok_nodes()
        t0 = time.monotonic()
        for name in todo:
            self._spawn(name, self._args(name), env={"HOME": str(self.workdir / "home")})
        for name in todo:
            self._wait_ready(name, self._readiness(name))
            self.timings[name] = time.monotonic() - t0

    def stop(self) -> None:
        """Stop all processes (SIGTERM to each process group, SIGKILL after 10 s) and delete the work dir.

        The work dir is kept (and its path logged) when `$GLIDEPATH_KEEP_CLUSTER` is set. Idempotent.
        """
        procs = list(reversed(self._procs.values()))
        self._procs.clear()
        for p in procs:
            _signal_group(p.popen, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in procs:
            try:
                p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.popen, signal.SIGKILL)
                p.popen.wait()
            p.log_file.close()
        atexit.unregister(self.stop)
        if self._workdir is not None:
            if os.environ.get("GLIDEPATH_KEEP_CLUSTER"):
                log.warning("GLIDEPATH_KEEP_CLUSTER is set: kept %s", self._workdir)
            else:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._server = ""

    def env(self) -> dict[str, str]:
        """Environment for child tools (kubectl, helm, the operator) pointed at this cluster only.

        Sets KUBECONFIG, KUBECACHEDIR (kubectl's discovery cache, in the work dir), KUBERC=off (ignore a
        user's ~/.kube/kuberc) and puts bin_dir first on PATH.
        """
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            KUBECACHEDIR=str(self.workdir / "kube-cache"),
            KUBERC="off",
            PATH=f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
        )
        return env

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl with this cluster's kubeconfig and context; return the completed process (text).

        `timeout` is in seconds (subprocess.TimeoutExpired beyond it). With `check`, a non-zero exit
        raises subprocess.CalledProcessError, with kubectl's stderr attached as a note.
        """
        kubectl = str(self.bin_dir / "kubectl")
        cmd = [kubectl, f"--kubeconfig={self.kubeconfig}", f"--context={CONTEXT}", *args]
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=self.env(), timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            err = subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
            err.add_note(f"kubectl stderr: {proc.stderr.strip()}")
            raise err
        return proc

    def apply(self, *manifests: Mapping[str, Any]) -> None:
        """Server-side apply manifests (dicts) as the admin, field manager `glidepath-tests`.

        Raises subprocess.CalledProcessError if kubectl rejects them.
        """
        items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        self.kubectl(
            "apply", "--server-side", "--field-manager=glidepath-tests", "-f", "-", stdin=json.dumps(items)
        )

    def create_namespace(self, name: str) -> None:
        """Create namespace `name`; with kube-controller-manager running, also wait (up to 30 s) for its
        `default` ServiceAccount, without which pods cannot be created.

        Raises subprocess.CalledProcessError if it exists already, TimeoutError if the account never comes.
        """
        self.kubectl("create", "namespace", name)
        if "kube-controller-manager" in self._procs:
            wait_for(
                lambda: self._get(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
                timeout=30,
                what=f"ServiceAccount {name}/default",
            )

    # -- starting processes ------------------------------------------------------------------------

    def _start_control_plane(self) -> None:
        bin_dir = self.bin_dir  # resolve (maybe build) before the timer and the work dir
        self._workdir = Path(tempfile.mkdtemp(prefix="glidepath-cluster-"))
        atexit.register(self.stop)
        for d in ("logs", "pki", "home", "etcd"):
            (self.workdir / d).mkdir(mode=0o700)
        log.info("starting local cluster in %s with binaries from %s", self.workdir, bin_dir)
        etcd_port, peer_port, api_port = _free_ports(3)
        self._etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._server = f"https://127.0.0.1:{api_port}"
        self._write_credentials()

        t0 = time.monotonic()
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                "--name=glidepath",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self._etcd_url}",
                f"--advertise-client-urls={self._etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=glidepath={peer_url}",
                "--unsafe-no-fsync",  # test data: durability does not matter, speed does
            ],
        )
        self._wait_ready("etcd", lambda: _http_ok(f"{self._etcd_url}/health"))
        self.timings["etcd"] = time.monotonic() - t0

        t0 = time.monotonic()
        pki = self.workdir / "pki"
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={self._etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={pki}",  # self-signed serving cert pki/apiserver.crt (leaf + its CA)
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--endpoint-reconciler-type=none",  # no Endpoints for a 127.0.0.1 "master"
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )
        self._wait_ready(
            "kube-apiserver",
            lambda: (
                self._ca_ready()
                and _http_ok(f"{self._server}/readyz", cafile=self.ca_file, token=self._admin_token)
            ),
        )
        self.timings["kube-apiserver"] = time.monotonic() - t0

    def _write_credentials(self) -> None:
        """Admin token file, service-account signing key pair and the admin kubeconfig."""
        pki = self.workdir / "pki"
        (pki / "tokens.csv").write_text(f'{self._admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (pki / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (pki / "sa.pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {"server": self._server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": CONTEXT, "user": {"token": self._admin_token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
        }
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _args(self, name: Component) -> list[str]:
        """Command-line flags of an optional component (before extra_args)."""
        common = [f"--kubeconfig={self.kubeconfig}"]
        if name == "kwok":
            return [
                *common,
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",  # kwok renews node leases: nodes stay Ready
                f"--cidr={POD_CIDR}",
            ]
        port = self._health_ports[name] = _free_ports(1)[0]
        # No --authentication/authorization-kubeconfig: only /healthz etc. (always allowed) are used, and
        # with them both log errors about the extension-apiserver-authentication ConfigMap, which
        # kube-apiserver only publishes when it has a client CA.
        serving = ["--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={port}"]
        if name == "kube-scheduler":
            return [*common, *serving]
        return [
            *common,
            *serving,
            "--controllers=*",  # cloud controllers disable themselves without --cloud-provider
            f"--service-account-private-key-file={self.workdir / 'pki' / 'sa.key'}",
            f"--root-ca-file={self.ca_file}",
            f"--cluster-name={CONTEXT}",
            f"--flex-volume-plugin-dir={self.workdir / 'flexvolume'}",  # default: /usr/libexec/...
            "--use-service-account-credentials=false",
        ]

    def _readiness(self, name: Component) -> Callable[[], bool]:
        if name == "kwok":
            return self._kwok_nodes_ready
        if name == "kube-controller-manager":
            return lambda: bool(self._get("/api/v1/namespaces/default/serviceaccounts/default"))
        url = f"https://127.0.0.1:{self._health_ports[name]}/healthz"  # in-memory self-signed cert
        return lambda: _http_ok(url, cafile=None)

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_file = log_path.open("ab")
        cmd = [str(self.bin_dir / name), *args, *self._extra_args.get(name, ())]
        log_file.write(f"# {' '.join(cmd)}\n".encode())
        log_file.flush()
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # own process group, for stop()
        )
        self._procs[name] = _Process(name, popen, log_path, log_file)

    def _wait_ready(self, name: str, ready: Callable[[], bool]) -> None:
        proc = self._procs[name]

        def check() -> bool:
            proc.check_alive()
            return ready()

        wait_for(check, timeout=self._startup_timeout, what=f"{name} to become ready (log: {proc.log_path})")

    # -- kwok nodes and API access -----------------------------------------------------------------

    def _create_kwok_nodes(self) -> None:
        for i in range(self._kwok_nodes):
            name = f"kwok-node-{i}"
            self._request(
                "POST",
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                        "labels": {
                            "type": "kwok",
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "node-role.kubernetes.io/agent": "",
                        },
                    },
                    # No kwok.x-k8s.io/node taint: no real kubelet exists here, so pods need no toleration.
                    "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
                },
            )

    def _kwok_nodes_ready(self) -> bool:
        nodes = self._get(f"/api/v1/nodes?labelSelector=type%3Dkwok&limit={self._kwok_nodes + 1}")
        ready = [
            n
            for n in (nodes or {}).get("items", [])
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) >= self._kwok_nodes

    def _ca_ready(self) -> bool:
        return self.ca_file.exists() and self.ca_file.stat().st_size > 0

    def _get(self, path: str) -> Any:
        """GET an API path as the admin; the decoded JSON, or None on 404."""
        return self._request("GET", path)

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            self.server + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._admin_token}", "Content-Type": "application/json"},
        )
        try:
            with _urlopen(req, ssl.create_default_context(cafile=str(self.ca_file)), timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise ClusterError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')}") from e


def _http_ok(url: str, *, cafile: Path | None = None, token: str | None = None) -> bool:
    """Whether GET `url` answers 200 within 2 s. `cafile=None` on https skips verification."""
    ctx: ssl.SSLContext | None = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        if cafile is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with _urlopen(request, ctx, timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, ssl.SSLError):  # refused, reset, HTTP errors (URLError is an OSError), timeouts
        return False


def _urlopen(request: urllib.request.Request, ctx: ssl.SSLContext | None, timeout: float) -> Any:
    """urlopen that ignores $HTTP(S)_PROXY: everything here is on 127.0.0.1. Raises like urlopen."""
    handlers = [urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)]
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def _free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports free on 127.0.0.1 right now (the OS may hand them out again later)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.killpg(popen.pid, sig)
