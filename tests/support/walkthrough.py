"""The main job, end to end: a ModelDeployment becomes Ready on a real control plane, and the pod it
renders, run as local processes, fetches the real model and answers a real inference.

Used by ``hack/demo.py`` (README command 1) and by the e2e tests, so both walk the same path.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import yaml

from examples.models.generate import generate, sample_inputs
from tests.support.cluster import LocalCluster, install_crd, wait_for
from tests.support.fileserver import serve_directory
from tests.support.localpod import LocalPod
from tests.support.operator import OperatorProcess

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "serving.glidepath.io_modeldeployments.yaml"
EXAMPLE = REPO / "examples" / "classifier.yaml"


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if it is free on 127.0.0.1, else any free port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


def model_server(root: Path, port: int) -> contextlib.AbstractContextManager[str]:
    """Serve ``root`` over HTTP on 127.0.0.1:port (a stand-in for a model store); yields the base URL."""
    return serve_directory(root, port)


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """Send JSON, return (status, decoded body); HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def condition(md: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """The named condition of a ModelDeployment's status, or None."""
    return next((c for c in (md.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


@dataclass
class Walkthrough:
    """What the walkthrough saw, for the demo to print and the tests to assert on.

    seconds_to_ready: from apply to condition Ready=True, seconds.
    served / expected: the runtime's V2 infer response, and onnxruntime's in-process result.
    """

    namespace: str
    name: str
    model_sha256: str
    seconds_to_ready: float
    md: dict[str, Any]
    deployment: dict[str, Any]
    fetch_output: str
    termination_message: str
    request: dict[str, Any]
    served: dict[str, Any]
    expected: dict[str, list[Any]]
    kubectl_get_md: str


def run(
    cluster: LocalCluster, workdir: Path, namespace: str, rows: int = 3, ready_timeout: float = 180.0
) -> Walkthrough:
    """Install the CRD, run the operator, apply examples/classifier.yaml, wait for Ready, then run the
    rendered pod locally and infer. Raises TimeoutError or AssertionError naming the step that failed."""
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / "model-store"
    model = generate(store / "classifier" / "1")
    manifest = yaml.safe_load(EXAMPLE.read_text())
    example_port = int(manifest["spec"]["model"]["uri"].split(":")[2].split("/")[0])

    with model_server(store, free_port(example_port)) as base_url:
        manifest["metadata"]["namespace"] = namespace
        manifest["spec"]["model"]["uri"] = f"{base_url}/classifier/1/model.onnx"
        manifest["spec"]["model"]["sha256"] = model.sha256
        name = manifest["metadata"]["name"]

        install_crd(cluster, CRD)
        with OperatorProcess(cluster, workdir / "operator.log"):
            started = time.monotonic()
            cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

            def ready() -> dict[str, Any] | None:
                md = json.loads(cluster.kubectl("get", "md", name, "-n", namespace, "-o", "json").stdout)
                cond = condition(md, "Ready")
                return md if cond is not None and cond["status"] == "True" else None

            md = wait_for(ready, timeout=ready_timeout, interval=0.5, what=f"ModelDeployment {name} Ready")
            seconds = time.monotonic() - started
            table = cluster.kubectl("get", "md", "-n", namespace, "-o", "wide").stdout

        deployment = json.loads(
            cluster.kubectl("get", "deployment", f"{name}-stable", "-n", namespace, "-o", "json").stdout
        )
        pod_spec = deployment["spec"]["template"]["spec"]
        runtime = pod_spec["containers"][0]
        container_port = runtime["ports"][0]["containerPort"]
        pod = LocalPod(workdir / "pod", ports={container_port: free_port()})
        fetch = pod_spec["initContainers"][0]
        done = pod.run(fetch)
        if done.returncode != 0:
            raise AssertionError(f"init container {fetch['name']} failed: {done.stderr}")
        termination = (
            pod.termination_log(fetch["name"]).read_text()
            if pod.termination_log(fetch["name"]).exists()
            else ""
        )

    url = f"http://127.0.0.1:{pod.ports[container_port]}"
    proc = pod.start(runtime, workdir / "runtime.log")
    try:
        probe = runtime["readinessProbe"]["httpGet"]["path"]
        wait_for(
            lambda: http_status(url + probe) == 200, timeout=60, interval=0.2, what="runtime readiness probe"
        )
        inputs = sample_inputs(rows)
        request = {
            "id": "walkthrough-1",
            "inputs": [
                {
                    "name": "input",
                    "shape": list(inputs.shape),
                    "datatype": "FP32",
                    "data": inputs.ravel().tolist(),
                }
            ],
        }
        status, served = http_json("POST", f"{url}/v2/models/{name}/infer", request)
        if status != 200:
            raise AssertionError(f"infer answered {status}: {served}")
    finally:
        proc.terminate()
        proc.wait(15)

    session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, {"input": inputs})
    expected = {n: np.asarray(r).ravel().tolist() for n, r in zip(names, results, strict=True)}
    return Walkthrough(
        namespace=namespace,
        name=name,
        model_sha256=model.sha256,
        seconds_to_ready=seconds,
        md=md,
        deployment=deployment,
        fetch_output=done.stdout + done.stderr,
        termination_message=termination,
        request=request,
        served=served,
        expected=expected,
        kubectl_get_md=table,
    )


def http_status(url: str) -> int:
    """GET status code of `url`, 0 when nothing answers (connection refused, timeout)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except (urllib.error.URLError, OSError):
        return 0
