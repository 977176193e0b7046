"""Progressive canary end to end: the operator process on the full local control plane (kwok makes
pods Running/Ready), real runtimes on loopback standing in for the tracks, a real Prometheus.

Figures (time from spec change to canary Ready, from failing figure to rollback) are printed with
`pytest -s` and recorded by the closing notes; no test asserts a duration.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from glidepath import naming
from glidepath.cli import main as cli_main
from glidepath.k8s import MODEL_DEPLOYMENT, Kube, connect
from glidepath.k8s.client import CONFIG_MAP, DEPLOYMENT, EVENT, HTTP_ROUTE

from examples.models.generate import generate, sample_inputs
from tests.support.capture import capture_status, capturing, save_status
from tests.support.cluster import NEVER_READY_ENV, LocalCluster, install_crd, third_party_crd, wait_for
from tests.support.localpod import LocalPod
from tests.support.operator import OperatorProcess
from tests.support.prometheus import PrometheusServer
from tests.support.walkthrough import CRD, free_port, http_json, http_status, model_server

MERGE = "application/merge-patch+json"


@dataclass
class Store:
    """Models served over HTTP: version -> (uri, sha256). v1, v2 good; v3 the "bad" one."""

    models: dict[str, tuple[str, str]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("store")
    made = {v: generate(root / "m" / v, "bad" if v == "3" else "good") for v in ("1", "2", "3", "4")}
    with model_server(root, free_port()) as base:
        yield Store({v: (f"{base}/m/{v}/model.onnx", m.sha256) for v, m in made.items()})


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer() as prom:
        yield prom


class Operator:
    """The module's one operator process; `restart(kill=True)` SIGKILLs it and starts a new one."""

    def __init__(self, cluster: LocalCluster, log: Path, env: dict[str, str]) -> None:
        self.cluster, self.log, self.env = cluster, log, env
        self.proc = OperatorProcess(cluster, log, env).start()

    def restart(self) -> None:
        import signal

        self.proc.stop(signal.SIGKILL)
        self.proc = OperatorProcess(self.cluster, self.log, self.env).start()


@pytest.fixture(scope="module")
def operator(
    full_cluster: LocalCluster, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    install_crd(full_cluster, CRD)
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    op = Operator(
        full_cluster, log, {"GLIDEPATH_PROMETHEUS_URL": prometheus.url, "GLIDEPATH_RESYNC_SECONDS": "5"}
    )
    yield op
    op.proc.stop()


@pytest.fixture
def kube(full_cluster: LocalCluster) -> Iterator[Kube]:
    client = connect(str(full_cluster.kubeconfig))
    yield client
    client.close()


def manifest(
    store: Store, name: str, version: str, rollout: dict[str, Any], replicas: int = 4, **spec: Any
) -> dict[str, Any]:
    uri, sha = store.models[version]
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": uri, "version": version, "sha256": sha},
            "replicas": replicas,
            "rollout": rollout,
            **spec,
        },
    }


def apply(cluster: LocalCluster, namespace: str, body: dict[str, Any]) -> None:
    """`kubectl apply` as a user (or Argo CD) would."""
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))


def md(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    got = kube.get(MODEL_DEPLOYMENT, namespace, name)
    assert got is not None
    return got


def wait_md(
    kube: Kube, ns: str, name: str, pred: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        got = md(kube, ns, name)
        return got if pred(got) else None

    return wait_for(check, timeout=timeout, interval=0.2, what=what)


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def healthy_at(version: str) -> Callable[[dict[str, Any]], bool]:
    def pred(obj: dict[str, Any]) -> bool:
        s = status(obj)
        return (
            s.get("phase") == "Healthy"
            and (s.get("stable") or {}).get("version") == version
            and s.get("observedGeneration") == obj["metadata"]["generation"]
        )

    return pred


def replicas(kube: Kube, ns: str, name: str) -> int | None:
    dep = kube.get(DEPLOYMENT, ns, name)
    return None if dep is None else int(dep["spec"].get("replicas", 0))


def event_reasons(kube: Kube, ns: str) -> list[str]:
    events = sorted(
        kube.list(EVENT, ns), key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"])
    )
    return [e["reason"] for e in events if e.get("source", {}).get("component") == "glidepath"]


def reasons_once_posted(kube: Kube, ns: str, reason: str) -> list[str]:
    """The operator posts a reconcile's Events just after it writes the status a test waits for, so
    wait until ``reason`` is among them; returns every reason posted by then."""
    wait_for(lambda: reason in event_reasons(kube, ns), timeout=10, what=f"a {reason} Event")
    return event_reasons(kube, ns)


STEPS3 = [{"weight": 25, "pause": "2s"}, {"weight": 50, "pause": "2s"}, {"weight": 100, "pause": "2s"}]


def test_full_promote_through_three_steps(
    operator: Operator, store: Store, kube: Kube, full_cluster: LocalCluster, namespace: str
) -> None:
    apply(full_cluster, namespace, manifest(store, "promo", "1", {"steps": STEPS3}))
    wait_md(kube, namespace, "promo", healthy_at("1"), "v1 Healthy")

    started = time.monotonic()
    apply(full_cluster, namespace, manifest(store, "promo", "2", {"steps": STEPS3}))
    seen: list[tuple[int, int, int | None, int | None]] = []
    canary_ready_after = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        obj = md(kube, namespace, "promo")
        canary = status(obj).get("canary")
        if canary and not canary.get("promoting"):
            row = (
                canary["step"],
                canary["weight"],
                replicas(kube, namespace, "promo-canary"),
                replicas(kube, namespace, "promo-stable"),
            )
            if not seen or seen[-1] != row:
                seen.append(row)
            if canary_ready_after is None and canary.get("readyReplicas", 0) >= 1:
                canary_ready_after = time.monotonic() - started
        if healthy_at("2")(obj):
            break
        time.sleep(0.1)
    print(f"\nsteps seen (step, weight, canary replicas, stable replicas): {seen}")
    print(
        f"spec change -> canary Ready: {canary_ready_after:.2f}s; -> promoted: {time.monotonic() - started:.2f}s"
    )
    assert healthy_at("2")(md(kube, namespace, "promo"))
    assert list(dict.fromkeys(w for _, w, _, _ in seen)) == [25, 50, 100]
    # status is written after the apply, so a snapshot may pair a step with the next step's replicas:
    # the smallest count seen at a weight is that step's own
    by_weight = {w: min(c for _, w2, c, _ in seen if w2 == w and c is not None) for w in (25, 50, 100)}
    assert by_weight == {25: 1, 50: 2, 100: 4}  # of 4 replicas
    assert min(s for *_, s in seen if s is not None) < 4  # stable gave pods up as canary pods got Ready
    assert replicas(kube, namespace, "promo-canary") is None  # canary removed after promotion
    assert replicas(kube, namespace, "promo-stable") == 4
    final = status(md(kube, namespace, "promo"))
    assert [h["version"] for h in final["history"]] == ["1", "2"]
    reasons = reasons_once_posted(kube, namespace, "Promoted")
    for reason, count in (("CanaryStarted", 1), ("StepAdvanced", 2), ("Promoting", 1), ("Promoted", 1)):
        assert reasons.count(reason) == count, reasons


def test_canary_that_never_becomes_ready_is_rolled_back(
    operator: Operator, store: Store, kube: Kube, full_cluster: LocalCluster, namespace: str
) -> None:
    rollout = {"steps": [{"weight": 50, "pause": "30s"}], "progressDeadlineSeconds": 6}
    apply(full_cluster, namespace, manifest(store, "stuck", "1", rollout))
    wait_md(kube, namespace, "stuck", healthy_at("1"), "v1 Healthy")

    stable_ready: list[int] = []
    stop = threading.Event()

    def watch_stable() -> None:
        while not stop.is_set():
            dep = kube.get(DEPLOYMENT, namespace, "stuck-stable")
            stable_ready.append(int((dep or {}).get("status", {}).get("readyReplicas", 0)))
            stop.wait(0.2)

    watcher = threading.Thread(target=watch_stable)
    watcher.start()
    try:
        bad = manifest(
            store, "stuck", "2", rollout, runtime={"env": [{"name": NEVER_READY_ENV, "value": "true"}]}
        )
        apply(full_cluster, namespace, bad)
        rolled = wait_md(
            kube, namespace, "stuck", lambda o: status(o).get("phase") == "RolledBack", "RolledBack"
        )
    finally:
        stop.set()
        watcher.join()
    if capturing():
        save_status(capture_status(full_cluster, namespace, "stuck"), "RolledBack")
    failed = status(rolled)["failed"]
    assert failed["reason"] == "ProgressDeadlineExceeded"
    assert "0/2 pods ready after 6s" in failed["message"]
    assert min(stable_ready) == 4  # stable kept every ready pod throughout
    wait_for(lambda: replicas(kube, namespace, "stuck-canary") == 0, timeout=10, what="canary scaled to zero")
    conds = {c["type"]: c for c in status(rolled)["conditions"]}
    assert conds["Degraded"]["status"] == "True"
    assert conds["Ready"]["status"] == "True"  # stable serves
    reasons_once_posted(kube, namespace, "RolledBack")
    time.sleep(6)  # not retried while the spec is the same (past a 5 s resync)
    assert status(md(kube, namespace, "stuck"))["phase"] == "RolledBack"
    assert event_reasons(kube, namespace).count("CanaryStarted") == 1


@contextlib.contextmanager
def run_track(
    kube: Kube,
    ns: str,
    name: str,
    track: str,
    workdir: Path,
    prom: PrometheusServer,
    targets: list[tuple[str, dict[str, str]]],
) -> Iterator[str]:
    """Run the rendered pod of one track as local processes (fetcher, then runtime) and have
    Prometheus scrape it with the labels the ServiceMonitor would add. Yields the runtime's URL."""
    dep = wait_for(
        lambda: kube.get(DEPLOYMENT, ns, f"{name}-{track}"), timeout=30, what=f"{track} Deployment"
    )
    pod_spec = dep["spec"]["template"]["spec"]
    runtime = pod_spec["containers"][0]
    port = runtime["ports"][0]["containerPort"]
    pod = LocalPod(workdir / track, ports={port: free_port()})
    done = pod.run(pod_spec["initContainers"][0])
    assert done.returncode == 0, done.stderr
    proc = pod.start(runtime, workdir / f"{track}.log")
    url = f"http://127.0.0.1:{pod.ports[port]}"
    try:
        wait_for(
            lambda: http_status(f"{url}/v2/health/ready") == 200,
            timeout=60,
            what=f"{track} runtime ready",
        )
        targets.append(
            (f"127.0.0.1:{pod.ports[port]}", {"namespace": ns, "serving_glidepath_io_track": track})
        )
        prom.set_targets(targets)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


class Load:
    """A bounded load loop: infer requests (built for the good model) to every URL added, round-robin,
    until stopped or `limit_s` seconds pass. Counts answers by status code."""

    def __init__(self, model: str, limit_s: float = 180) -> None:
        inputs = sample_inputs(2)
        self.body = {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(inputs.shape),
                    "datatype": "FP32",
                    "data": inputs.ravel().tolist(),
                }
            ]
        }
        self.model, self.limit_s = model, limit_s
        self.urls: list[str] = []
        self.codes: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        end = time.monotonic() + self.limit_s
        i = 0
        while not self._stop.is_set() and time.monotonic() < end:
            if not self.urls:
                time.sleep(0.05)
                continue
            url = self.urls[i % len(self.urls)]
            i += 1
            try:
                code, _ = http_json("POST", f"{url}/v2/models/{self.model}/infer", self.body, timeout=5)
            except OSError:  # a runtime that is shutting down refuses the connection
                code = 0
            self.codes[code] = self.codes.get(code, 0) + 1
            time.sleep(0.01)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


ANALYSIS = {
    "interval": "4s",
    "failureLimit": 0,
    "metrics": [{"name": "error-rate", "max": 0.1}, {"name": "latency-p99", "max": 1.0}],
}


@contextlib.contextmanager
def canary_under_load(
    kube: Kube,
    cluster: LocalCluster,
    store: Store,
    ns: str,
    prom: PrometheusServer,
    workdir: Path,
    name: str,
    to_version: str,
    rollout: dict[str, Any],
) -> Iterator[Load]:
    """v1 Healthy with its stable pod running locally under load, then ``to_version`` as a canary
    whose pod runs locally too, both scraped by Prometheus. Yields the load loop."""
    apply(cluster, ns, manifest(store, name, "1", rollout, replicas=2))
    wait_md(kube, ns, name, healthy_at("1"), "v1 Healthy")
    targets: list[tuple[str, dict[str, str]]] = []
    with run_track(kube, ns, name, "stable", workdir, prom, targets) as stable_url, Load(name) as load:
        load.urls.append(stable_url)
        apply(cluster, ns, manifest(store, name, to_version, rollout, replicas=2))
        with run_track(kube, ns, name, "canary", workdir, prom, targets) as canary_url:
            load.urls.append(canary_url)
            yield load


def test_metric_analysis_rolls_back_a_failing_canary(
    operator: Operator,
    store: Store,
    kube: Kube,
    full_cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    rollout = {"steps": [{"weight": 50, "pause": "60s"}], "analysis": ANALYSIS}
    # v3 is the "bad" model: every request built for the good one gets 400
    with canary_under_load(
        kube, full_cluster, store, namespace, prometheus, tmp_path, "judged", "3", rollout
    ) as load:
        serving_errors = time.monotonic()
        rolled = wait_md(
            kube,
            namespace,
            "judged",
            lambda o: status(o).get("phase") == "RolledBack",
            "RolledBack",
            timeout=60,
        )
        took = time.monotonic() - serving_errors
        wait_for(lambda: replicas(kube, namespace, "judged-canary") == 0, timeout=10, what="canary at zero")
        finished = time.monotonic() - serving_errors
    print(
        f"\ncanary serving errors -> RolledBack: {took:.2f}s, -> canary scaled to zero: {finished:.2f}s; load {load.codes}"
    )
    failed = status(rolled)["failed"]
    assert failed["reason"] == "AnalysisFailed"
    assert "error-rate" in failed["message"]
    assert "outside max 0.1" in failed["message"]
    assert load.codes.get(400, 0) > 0
    assert load.codes.get(200, 0) > 0
    assert status(rolled)["stable"]["version"] == "1"
    reasons_once_posted(kube, namespace, "AnalysisFailed")


def test_healthy_canary_passes_analysis_and_is_promoted(
    operator: Operator,
    store: Store,
    kube: Kube,
    full_cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    tmp_path: Path,
) -> None:
    rollout = {"steps": [{"weight": 50, "pause": "4s"}], "analysis": ANALYSIS}
    with canary_under_load(
        kube, full_cluster, store, namespace, prometheus, tmp_path, "fine", "2", rollout
    ) as load:
        wait_md(kube, namespace, "fine", healthy_at("2"), "v2 promoted", timeout=90)
    assert load.codes.get(400, 0) == 0
    assert load.codes.get(200, 0) > 0
    history = status(md(kube, namespace, "fine"))["history"]
    assert [h["version"] for h in history] == ["1", "2"]
    assert "AnalysisFailed" not in event_reasons(kube, namespace)


def test_operator_killed_mid_step_resumes_without_repeating_or_skipping(
    operator: Operator, store: Store, kube: Kube, full_cluster: LocalCluster, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "2s"}, {"weight": 50, "pause": "8s"}, {"weight": 100, "pause": "2s"}]
    apply(full_cluster, namespace, manifest(store, "phoenix", "1", {"steps": steps}))
    wait_md(kube, namespace, "phoenix", healthy_at("1"), "v1 Healthy")
    apply(full_cluster, namespace, manifest(store, "phoenix", "2", {"steps": steps}))
    before = wait_md(
        kube, namespace, "phoenix", lambda o: (status(o).get("canary") or {}).get("step") == 1, "step 2"
    )
    step_started = status(before)["canary"]["stepStartedAt"]
    reasons_once_posted(kube, namespace, "StepAdvanced")  # killed after the step's Event, not between
    operator.restart()  # SIGKILL mid-step, then a fresh process that only has the status
    after = md(kube, namespace, "phoenix")
    assert status(after)["canary"]["stepStartedAt"] == step_started
    wait_md(kube, namespace, "phoenix", healthy_at("2"), "v2 promoted after restart")
    reasons = reasons_once_posted(kube, namespace, "Promoted")
    assert reasons.count("CanaryStarted") == 1
    assert reasons.count("StepAdvanced") == 2  # steps 2 and 3, once each
    assert reasons.count("Promoted") == 1


def test_gateway_api_mode_writes_route_weights_per_step(
    operator: Operator, store: Store, kube: Kube, full_cluster: LocalCluster, namespace: str
) -> None:
    install_crd(full_cluster, third_party_crd("gateway-api", "gateway.networking.k8s.io_httproutes.yaml"))
    traffic = {
        "mode": "gatewayAPI",
        "parentRefs": [{"name": "public-gateway"}],
        "hostnames": ["route.example"],
    }
    steps = [{"weight": 20, "pause": "2s"}, {"weight": 60, "pause": "2s"}]
    apply(
        full_cluster,
        namespace,
        manifest(store, "routed", "1", {"steps": steps, "traffic": traffic}, replicas=2),
    )
    wait_md(kube, namespace, "routed", healthy_at("1"), "v1 Healthy", timeout=120)

    def weights() -> tuple[int, ...]:
        route = kube.get(HTTP_ROUTE, namespace, "routed")
        return tuple(b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]) if route else ()

    assert weights() == (100,)
    apply(
        full_cluster,
        namespace,
        manifest(store, "routed", "2", {"steps": steps, "traffic": traffic}, replicas=2),
    )
    seen: list[tuple[int, ...]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not healthy_at("2")(md(kube, namespace, "routed")):
        w = weights()
        if not seen or seen[-1] != w:
            seen.append(w)
        time.sleep(0.1)
    seen.append(weights())
    print(f"\nHTTPRoute weights seen (stable, canary): {seen}")
    assert (80, 20) in seen
    assert (40, 60) in seen
    assert seen.index((80, 20)) < seen.index((40, 60))
    assert seen[-1] == (100,)
    assert kube.get(DEPLOYMENT, namespace, "routed-canary") is None


def cli(cluster: LocalCluster, *args: str) -> None:
    assert cli_main(["--kubeconfig", str(cluster.kubeconfig), *args]) == 0


def test_cli_promote_abort_retry_status(
    operator: Operator,
    store: Store,
    kube: Kube,
    full_cluster: LocalCluster,
    namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    steps = [{"weight": 30}, {"weight": 60}]  # no pauses: each step waits for `glidepath promote`
    apply(full_cluster, namespace, manifest(store, "manual", "1", {"steps": steps}, replicas=2))
    wait_md(kube, namespace, "manual", healthy_at("1"), "v1 Healthy")
    # v2 also sets runtime resources, which v1 did not: undo must remove them, not keep them
    limits = {"resources": {"limits": {"memory": "512Mi"}}}
    apply(
        full_cluster, namespace, manifest(store, "manual", "2", {"steps": steps}, replicas=2, runtime=limits)
    )
    wait_md(kube, namespace, "manual", lambda o: status(o).get("phase") == "Paused", "Paused at step 1")

    if capturing():
        save_status(capture_status(full_cluster, namespace, "manual"), "Paused")
    cli(full_cluster, "status", "manual", "-n", namespace)
    out = capsys.readouterr().out
    assert "Phase:     Paused" in out
    assert "step 1  weight 30%" in out
    assert "waiting for promote" in out

    cli(full_cluster, "promote", "manual", "-n", namespace)
    wait_md(kube, namespace, "manual", lambda o: (status(o).get("canary") or {}).get("step") == 1, "step 2")
    cli(full_cluster, "abort", "manual", "-n", namespace)
    rolled = wait_md(
        kube, namespace, "manual", lambda o: status(o).get("phase") == "RolledBack", "RolledBack"
    )
    assert status(rolled)["failed"]["reason"] == "Aborted"
    cli(full_cluster, "retry", "manual", "-n", namespace)
    wait_md(
        kube,
        namespace,
        "manual",
        lambda o: (status(o).get("canary") or {}).get("step") == 0 and status(o).get("phase") == "Paused",
        "retried",
    )
    cli(full_cluster, "promote", "manual", "-n", namespace, "--full")
    wait_md(kube, namespace, "manual", healthy_at("2"), "promoted in full")

    cli(
        full_cluster, "undo", "manual", "-n", namespace
    )  # writes the spec back to v1: the rollbackWindow fast path
    back = wait_md(kube, namespace, "manual", healthy_at("1"), "undone to v1")
    undone = md(kube, namespace, "manual")["spec"]
    assert undone["model"]["version"] == "1"
    assert "resources" not in undone.get("runtime", {})
    assert status(back).get("canary") is None
    capsys.readouterr()
    cli(full_cluster, "status", "manual", "-n", namespace)
    out = capsys.readouterr().out
    assert "Phase:     Healthy" in out
    assert out.count("History:") == 2
    annotations = md(kube, namespace, "manual")["metadata"]["annotations"]
    assert naming.ANNOTATION_PROMOTE in annotations
    handled = status(back)["handledRequests"]
    assert handled["promote"] == annotations[naming.ANNOTATION_PROMOTE]


def test_tfserving_canary_gets_its_own_model_config(
    operator: Operator, kube: Kube, full_cluster: LocalCluster, namespace: str
) -> None:
    """TF Serving pods run on kwok here (no TF Serving binary on this machine); what is checked is what
    the operator renders per track: each track's ConfigMap pins its own version, and the canary's goes
    with the canary."""

    def tf(version: str) -> dict[str, Any]:
        return {
            "apiVersion": naming.API_VERSION,
            "kind": naming.KIND,
            "metadata": {"name": "tf"},
            "spec": {
                "model": {"uri": f"s3://models/tf/{version}/", "version": version, "format": "tensorflow"},
                "runtime": {"name": "tfserving"},
                "replicas": 2,
                "rollout": {"steps": [{"weight": 50, "pause": "3s"}]},
            },
        }

    def config(track: str) -> str | None:
        cm = kube.get(CONFIG_MAP, namespace, f"tf-{track}-tfserving")
        return None if cm is None else str(cm["data"]["models.config"])

    apply(full_cluster, namespace, tf("1"))
    wait_md(kube, namespace, "tf", healthy_at("1"), "tf v1 Healthy")
    assert "versions: 1" in (config("stable") or "")
    apply(full_cluster, namespace, tf("2"))
    wait_md(
        kube, namespace, "tf", lambda o: (status(o).get("canary") or {}).get("version") == "2", "tf canary"
    )
    assert "versions: 2" in (config("canary") or "")
    assert "versions: 1" in (config("stable") or "")
    wait_md(kube, namespace, "tf", healthy_at("2"), "tf v2 promoted")
    assert "versions: 2" in (config("stable") or "")
    wait_for(lambda: config("canary") is None, timeout=10, what="canary ConfigMap pruned")
