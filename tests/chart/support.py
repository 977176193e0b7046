"""Helpers of the chart tests: a real helm, the chart's pod run as a local process with its
ServiceAccount's token, and the install commands of the docs.

Nothing here runs a container: on the local control plane kwok plays the kubelet, so the operator
Deployment's pods are Running and Ready without running anything. :class:`PodProcess` runs what such
a pod would run (the container's exact command, args and env) as a local process, authenticated as the
chart's ServiceAccount through a TokenRequest token, so the chart's RBAC is what the API server
enforces on it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import yaml

from tests.support.cluster import LocalCluster, wait_for
from tests.support.operator import stop_group

REPO: Final = Path(__file__).resolve().parents[2]
CHART: Final = REPO / "charts" / "glidepath"
HELM_BUILD: Final = REPO / "hack" / "build-helm.sh"
CRD_FILE: Final = REPO / "crds" / "serving.glidepath.io_modeldeployments.yaml"
INSTALL_DOCS: Final = (REPO / "README.md", REPO / "docs" / "install.md", CHART / "README.md")
INSTALL_MARK: Final = "<!-- test: install -->"

Obj = dict[str, Any]


def find_helm() -> Path:
    """The helm binary: ``$GLIDEPATH_HELM`` if set, else built (or reused) by hack/build-helm.sh.

    Raises RuntimeError when the build fails.
    """
    if env := os.environ.get("GLIDEPATH_HELM"):
        return Path(env)
    proc = subprocess.run(["bash", str(HELM_BUILD)], cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{HELM_BUILD} failed with exit code {proc.returncode}")
    return Path(lines[-1]) / "helm"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Helm:
    """The real helm binary, pointed at nothing (template, lint) or at a LocalCluster.

    Helm's own config, cache and data go under ``home``, never under the user's ~/.config or ~/.cache.
    """

    binary: Path
    home: Path

    def env(self, cluster: LocalCluster | None = None) -> dict[str, str]:
        """Environment for helm (and the docs' commands): the cluster's env, helm on PATH, private dirs."""
        env = cluster.env() if cluster is not None else dict(os.environ)
        env["PATH"] = f"{self.binary.parent}{os.pathsep}{env.get('PATH', '')}"
        for var, sub in (
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_DATA_HOME", "data"),
        ):
            env[var] = str(self.home / sub)
        return env

    def run(
        self, *args: str, cluster: LocalCluster | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run helm; with ``check``, a non-zero exit raises CalledProcessError with helm's stderr."""
        cmd = [str(self.binary), *args]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env(cluster), timeout=timeout, check=False, cwd=REPO
        )
        if check and proc.returncode != 0:
            err = subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
            err.add_note(f"helm stderr: {proc.stderr.strip()}")
            raise err
        return proc

    def template(
        self,
        namespace: str = "glidepath-system",
        values: Sequence[Path] = (),
        set_values: Sequence[str] = (),
        release: str = "glidepath",
        include_crds: bool = False,
    ) -> str:
        """``helm template`` of the chart; returns the YAML stream."""
        args = ["template", release, str(CHART), "--namespace", namespace]
        for v in values:
            args += ["--values", str(v)]
        for s in set_values:
            args += ["--set", s]
        if include_crds:
            args.append("--include-crds")
        return self.run(*args).stdout

    def objects(self, *args: Any, **kwargs: Any) -> list[Obj]:
        """:meth:`template`, parsed: every non-empty document."""
        return [d for d in yaml.safe_load_all(self.template(*args, **kwargs)) if d]


def find(objects: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    """The one object of that kind (and name); raises LookupError otherwise."""
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise LookupError(f"{len(found)} objects of kind {kind} named {name}")
    return found[0]


def get_json(cluster: LocalCluster, *args: str) -> Obj:
    """``kubectl get ARGS -o json --show-managed-fields``, decoded."""
    out: Obj = json.loads(cluster.kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)
    return out


def install_crd_file(cluster: LocalCluster, path: Path) -> None:
    """Apply a CRD file (server-side, forcing conflicts) and wait until every CRD in it is Established."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=glidepath-tests", "-f", str(path)
    )

    def established() -> bool:
        out = json.loads(cluster.kubectl("get", "-f", str(path), "-o", "json").stdout)
        crds = out["items"] if out.get("kind") == "List" else [out]
        return all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            )
            for crd in crds
        )

    wait_for(established, timeout=60, interval=0.2, what=f"CRDs of {path.name} Established")


def adopt_into_release(cluster: LocalCluster, resource: str, release: str, namespace: str) -> None:
    """Let helm adopt an object created outside it (Helm's documented ownership metadata)."""
    cluster.kubectl("label", "--overwrite", resource, "app.kubernetes.io/managed-by=Helm")
    cluster.kubectl(
        "annotate",
        "--overwrite",
        resource,
        f"meta.helm.sh/release-name={release}",
        f"meta.helm.sh/release-namespace={namespace}",
    )


def service_account_kubeconfig(cluster: LocalCluster, namespace: str, account: str, path: Path) -> Path:
    """Write a kubeconfig holding a token of ServiceAccount ``namespace/account`` (TokenRequest API,
    through ``kubectl create token``): what the pod's projected token would give it. Returns ``path``."""
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": cluster.server, "certificate-authority": str(cluster.ca_file)},
            }
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {"name": "sa", "context": {"cluster": "local", "user": account, "namespace": namespace}}
        ],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def kubectl_as(
    cluster: LocalCluster, kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """kubectl with another kubeconfig (e.g. a ServiceAccount's); not raising unless ``check``."""
    env = {**cluster.env(), "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [str(cluster.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=check,
    )


@dataclass
class PodProcess:
    """The first container of a Deployment's pod template, run as a local process as a kubelet would.

    What a container runtime provides is emulated on argv and env only: each containerPort maps to a
    free host port on 127.0.0.1 (an argument ``0.0.0.0:<containerPort>`` becomes ``127.0.0.1:<host>``,
    an env value equal to a containerPort becomes the host port, and ``0.0.0.0`` becomes 127.0.0.1);
    ``fieldRef`` env resolves to the pod's name and namespace; and the ServiceAccount's token comes as
    ``KUBECONFIG`` (the kubernetes client reads it instead of /var/run/secrets/...). The command runs
    from this virtualenv's bin directory, where the operator's image has /opt/glidepath/bin.
    """

    deployment: Obj
    kubeconfig: Path
    log: Path
    pod_name: str
    extra_env: Mapping[str, str] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def container(self) -> Obj:
        """The container spec that runs."""
        containers: list[Obj] = self.deployment["spec"]["template"]["spec"]["containers"]
        return containers[0]

    def host_port(self, name: str) -> int:
        """Host port of the containerPort named ``name``."""
        port = next(p["containerPort"] for p in self.container.get("ports") or [] if p["name"] == name)
        return self.ports[port]

    def argv(self) -> list[str]:
        """command + args with ports mapped."""
        out = []
        for arg in [*(self.container.get("command") or []), *(self.container.get("args") or [])]:
            for cport, hport in self.ports.items():
                arg = arg.replace(f"0.0.0.0:{cport}", f"127.0.0.1:{hport}")
            out.append(arg)
        return out

    def env(self) -> dict[str, str]:
        """The container's env resolved as the kubelet would, plus the host emulation variables."""
        env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        meta = self.deployment["metadata"]
        for var in self.container.get("env") or []:
            if "valueFrom" in var:
                path = var["valueFrom"]["fieldRef"]["fieldPath"]
                value = {"metadata.name": self.pod_name, "metadata.namespace": meta["namespace"]}[path]
            else:
                value = str(var.get("value", ""))
                if value == "0.0.0.0":
                    value = "127.0.0.1"
                elif value.isdigit() and int(value) in self.ports:
                    value = str(self.ports[int(value)])
            env[var["name"]] = value
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def start(self) -> PodProcess:
        """Start the process (new host ports each time). Raises RuntimeError if it exits at once."""
        self.ports = {p["containerPort"]: free_port() for p in self.container.get("ports") or []}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(), env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.pod_name} exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}"
            )
        return self

    def healthy(self) -> bool:
        """Whether kopf's health endpoint (the probes' target) answers 200."""
        url = f"http://127.0.0.1:{self.host_port('health')}/healthz"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 60) -> None:
        """Wait until the readiness probe's endpoint answers, as the kubelet would before Ready."""

        def check() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.pod_name} exited:\n{self.log_text()[-4000:]}")
            return self.healthy()

        wait_for(check, timeout=timeout, what=f"{self.pod_name} /healthz")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int | None:
        """Signal the process group, wait, and return the exit code."""
        return stop_group(self.proc, sig, timeout)

    def log_text(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> PodProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


RBAC_DENIED = re.compile(r'cannot [a-z]+ resource "[^"]+"')
"""How the API server's RBAC authorizer words a refusal (other 403s, e.g. writes into a namespace being
deleted by an earlier test, are not about rights)."""


def forbidden_lines(log: str) -> list[str]:
    """Lines of an operator log that report a request RBAC refused."""
    return [line for line in log.splitlines() if RBAC_DENIED.search(line)]


def install_commands() -> list[str]:
    """The install commands of the docs: the bash block after ``<!-- test: install -->``.

    Every doc in INSTALL_DOCS that has the marker must show the same commands (so README.md, the
    docs and the chart's README cannot disagree). Comment-only lines and trailing comments go.
    """
    blocks: dict[Path, list[str]] = {}
    for doc in INSTALL_DOCS:
        if not doc.exists():
            continue
        text = doc.read_text()
        at = text.find(INSTALL_MARK)
        if at < 0:
            continue
        block = re.search(r"```(?:bash|sh|console)?\n(.*?)```", text[at:], re.S)
        if block is None:
            raise AssertionError(f"{doc}: no code block after {INSTALL_MARK}")
        lines = [re.sub(r"\s+#\s.*$", "", ln).strip() for ln in block.group(1).splitlines()]
        blocks[doc] = [ln for ln in lines if ln and not ln.startswith("#")]
    if not blocks:
        raise AssertionError(f"no doc has {INSTALL_MARK}")
    first = next(iter(blocks.values()))
    for doc, lines in blocks.items():
        if lines != first:
            raise AssertionError(f"{doc}: install commands differ from {next(iter(blocks))}")
    return first
