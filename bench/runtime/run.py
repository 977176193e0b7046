"""Benchmark glidepath-runtime against KServe, MLServer, PyTriton and a minimal baseline, side by side.

    .venv/bin/python -m bench.runtime.run [--duration 20] [--repeats 3] [--only glidepath,kserve]

Needs ``wrk`` and ``taskset`` (Debian: ``apt-get install wrk util-linux``) and two cores. It

1. generates the models (:mod:`bench.runtime.models`: a 100-tree RandomForest, a ResNet-18-sized CNN);
2. installs each peer in its own virtual environment under ``~/.cache/glidepath/bench-venvs`` (once;
   a peer that cannot be installed here is skipped with the reason);
3. per repeat, starts each server in turn pinned to core 0 with ONNX Runtime on one intra-op thread
   (``taskset -c 0``), measures its idle memory (PSS of its whole process tree, both models loaded),
   then drives it with ``wrk`` (one thread, a Lua POST script, pinned to core 1) for ``--duration``
   seconds per scenario, and stops it: servers interleaved, repeats one after another;
4. measures in-process onnxruntime calls/s on core 0 for reference;
5. prints one table (median over repeats) and the ratios the issue targets.

Traffic goes to 127.0.0.1 only; every run is bounded by ``--duration``; the script stops by itself.
Debian's wrk corrects latency for coordinated omission: compare p99 only between rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.runtime.models import cnn_image, generate, tabular_rows

HERE: Final = Path(__file__).resolve().parent
REPO: Final = HERE.parents[1]
CACHE: Final = Path(os.environ.get("GLIDEPATH_BENCH_CACHE", Path.home() / ".cache" / "glidepath"))
VENVS: Final = CACHE / "bench-venvs"
SERVER_CORE: Final = "0"
CLIENT_CORE: Final = "1"
BASE_PORT: Final = 18700

#: Peer -> pip requirements of its virtual environment.
PEER_REQUIREMENTS: Final = {
    "kserve": ["kserve", "onnxruntime", "numpy"],
    # uvloop 0.22+ breaks MLServer 1.7 parallel workers ("no current event loop").
    "mlserver": ["mlserver", "uvloop<0.22", "onnxruntime", "numpy"],
    "pytriton": ["nvidia-pytriton", "onnxruntime", "numpy"],
    "baseline": ["starlette", "uvicorn[standard]", "orjson", "onnxruntime", "numpy"],
}

#: Peers whose venv needs a particular base interpreter. PyTriton's Triton Python-backend stub links the
#: system's libpython3.x, so its venv must use that interpreter's standard library (Debian:
#: ``apt-get install python3-venv``); with another 3.11 build its model fails to load.
PEER_BASE_PYTHON: Final = {"pytriton": "/usr/bin/python3"}

LUA: Final = """
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
local header_length = os.getenv("HEADER_LENGTH")
if header_length then wrk.headers["Inference-Header-Content-Length"] = header_length end
"""


@dataclass(frozen=True)
class Scenario:
    """One load: a model, a body, a connection count."""

    name: str
    model: str
    protocol: str
    connections: int
    body: Path
    header_length: int | None = None


@dataclass
class ServerSpec:
    """How to start one server configuration and which scenarios it runs."""

    name: str
    command: Callable[[int, dict[str, Path]], tuple[list[str], dict[str, str], Path | None]]
    scenarios: list[str]
    ready_path: str = "/v2/health/ready"
    #: Whether it answers /v2/models/{name}/ready (the minimal baseline does not).
    model_ready: bool = True


@dataclass
class Result:
    """One wrk run."""

    server: str
    scenario: Scenario
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Collected:
    """All results of a benchmark run."""

    results: list[Result] = field(default_factory=list)
    memory: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


# --- environments ---------------------------------------------------------------------------------


def peer_python(peer: str) -> Path | None:
    """The peer's venv Python, installing the venv once; None (reason in the log) when impossible."""
    venv = VENVS / peer
    python = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    if marker.exists():
        return python
    print(f"installing {peer} into {venv} (once) …", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    base = PEER_BASE_PYTHON.get(peer, sys.executable)
    if not Path(base).exists():
        base = sys.executable
    created = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        print(f"skipping {peer}: cannot create a venv with {base}: {created.stderr[-500:]}", flush=True)
        return None
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS[peer]],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if install.returncode != 0:
        print(f"skipping {peer}: pip install failed:\n{install.stderr[-2000:]}", flush=True)
        return None
    marker.touch()
    return python


# --- servers --------------------------------------------------------------------------------------


#: glidepath-runtime serve flags of every benchmark run: one ONNX Runtime thread (the server is pinned to
#: one core), no drain delay, quiet logs.
PINNED_SERVE_FLAGS: Final = (
    "--intra-op-threads",
    "1",
    "--inter-op-threads",
    "1",
    "--shutdown-delay",
    "0",
    "--log-level",
    "warning",
)


def glidepath(
    batching: bool,
) -> Callable[[int, dict[str, Path]], tuple[list[str], dict[str, str], Path | None]]:
    def command(port: int, models: dict[str, Path]) -> tuple[list[str], dict[str, str], Path | None]:
        argv = [
            str(Path(sys.executable).parent / "glidepath-runtime"),
            "serve",
            "--model-name",
            "tabular",
            "--model-dir",
            str(models["tabular"]),
            "--extra-model",
            f"cnn={models['cnn']}",
            "--http-port",
            str(port),
            "--grpc-port",
            str(port + 1),
            *PINNED_SERVE_FLAGS,
        ]
        if batching:
            argv += ["--max-batch-size", "64", "--max-queue-delay-us", "0"]
        return argv, {"GLIDEPATH_HTTP_HOST": "127.0.0.1"}, None

    return command


def peer(
    name: str, script: str
) -> Callable[[int, dict[str, Path]], tuple[list[str], dict[str, str], Path | None]]:
    def command(port: int, models: dict[str, Path]) -> tuple[list[str], dict[str, str], Path | None]:
        python = peer_python(name)
        if python is None:
            raise RuntimeError(f"{name} is not installed")
        spec = ",".join(f"{n}={d / 'model.onnx'}" for n, d in models.items())
        return (
            [str(python), str(HERE / "peers" / script)],
            {"BENCH_PORT": str(port), "BENCH_MODELS": spec},
            None,
        )

    return command


def mlserver(
    parallel: bool,
) -> Callable[[int, dict[str, Path]], tuple[list[str], dict[str, str], Path | None]]:
    def command(port: int, models: dict[str, Path]) -> tuple[list[str], dict[str, str], Path | None]:
        python = peer_python("mlserver")
        if python is None:
            raise RuntimeError("mlserver is not installed")
        repository = CACHE / "bench" / f"mlserver-{'parallel' if parallel else 'single'}-{port}"
        shutil.rmtree(repository, ignore_errors=True)
        for name, directory in models.items():
            (repository / name).mkdir(parents=True)
            settings = {
                "name": name,
                "implementation": "mlserver_runtime.OnnxRuntime",
                "parameters": {"uri": str(directory / "model.onnx")},
            }
            (repository / name / "model-settings.json").write_text(json.dumps(settings))
        server = {
            "http_port": port,
            "grpc_port": port + 1,
            "metrics_port": port + 2,
            "parallel_workers": 1 if parallel else 0,
        }
        (repository / "settings.json").write_text(json.dumps(server))
        mlserver_bin = python.parent / "mlserver"
        env = {"PYTHONPATH": str(HERE / "peers")}
        return [str(mlserver_bin), "start", str(repository)], env, repository

    return command


SERVERS: Final = [
    ServerSpec(
        "glidepath", glidepath(False), ["tabular-json-8", "cnn-json-8", "cnn-binary-8", "tabular-json-32"]
    ),
    ServerSpec("glidepath+batching", glidepath(True), ["tabular-json-32"]),
    ServerSpec(
        "kserve", peer("kserve", "kserve_server.py"), ["tabular-json-8", "cnn-json-8", "cnn-binary-8"]
    ),
    ServerSpec("mlserver", mlserver(True), ["tabular-json-8", "cnn-json-8"]),
    ServerSpec("mlserver-no-parallel", mlserver(False), ["tabular-json-8", "cnn-json-8"]),
    ServerSpec(
        "pytriton", peer("pytriton", "pytriton_server.py"), ["tabular-json-8", "cnn-json-8", "cnn-binary-8"]
    ),
    ServerSpec(
        "baseline",
        peer("baseline", "baseline_server.py"),
        ["tabular-json-8", "cnn-json-8"],
        model_ready=False,
    ),
]


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += process_tree(int(child))
    return sorted(set(pids))


def pss_mib(pid: int) -> float:
    """Proportional set size of ``pid``'s process tree, MiB (shared pages counted once in all)."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"not ready within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with_group = os.getpgid(process.pid)
    os.killpg(with_group, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(with_group, signal.SIGKILL)
        process.wait()


# --- load -----------------------------------------------------------------------------------------


def write_bodies(directory: Path) -> dict[str, Scenario]:
    """The request bodies (V2 JSON for tabular and CNN, the binary extension for the CNN)."""
    directory.mkdir(parents=True, exist_ok=True)
    tabular = tabular_rows(1)
    image = cnn_image(1)

    def v2_json(name: str, array: object, shape: list[int]) -> Path:
        path = directory / f"{name}.json"
        tensor = {"name": "input", "shape": shape, "datatype": "FP32", "data": array}
        path.write_text(json.dumps({"inputs": [tensor]}))
        return path

    tab = v2_json("tabular", tabular.reshape(-1).tolist(), list(tabular.shape))
    cnn = v2_json("cnn", image.reshape(-1).tolist(), list(image.shape))
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(image.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": image.nbytes},
                }
            ],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    ).encode()
    binary = directory / "cnn.bin"
    binary.write_bytes(header + image.tobytes())
    (directory / "post.lua").write_text(LUA)
    return {
        "tabular-json-8": Scenario("tabular-json-8", "tabular", "v2-json", 8, tab),
        "tabular-json-32": Scenario("tabular-json-32", "tabular", "v2-json", 32, tab),
        "cnn-json-8": Scenario("cnn-json-8", "cnn", "v2-json", 8, cnn),
        "cnn-binary-8": Scenario("cnn-binary-8", "cnn", "v2-binary", 8, binary, len(header)),
    }


def run_wrk(port: int, scenario: Scenario, duration: int, lua: Path) -> tuple[float, float, float, int]:
    """requests/s, p50 ms, p99 ms, errors (non-2xx, socket errors) of one wrk run."""
    env = dict(os.environ, BODY_FILE=str(scenario.body))
    if scenario.header_length is not None:
        env.update(HEADER_LENGTH=str(scenario.header_length), CONTENT_TYPE="application/octet-stream")
    url = f"http://127.0.0.1:{port}/v2/models/{scenario.model}/infer"
    argv = ["taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{scenario.connections}", f"-d{duration}s"]
    argv += ["--timeout", "10s", "--latency", "-s", str(lua), url]
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        match = re.search(pattern, out)
        if match:
            errors += sum(int(g) for g in match.groups())
    return rps, _ms(out, "50%"), _ms(out, "99%"), errors


def _ms(out: str, percentile: str) -> float:
    match = re.search(rf"{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\b", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def in_process_rate(models: dict[str, Path], seconds: float) -> dict[str, float]:
    """onnxruntime calls/s on the server core, one intra-op thread, batch 1."""
    code = f"""
import json, sys, time, numpy as np, onnxruntime as ort
sys.path.insert(0, {str(REPO)!r})
from bench.runtime.models import cnn_image, tabular_rows
out = {{}}
for name, x in (("tabular", tabular_rows(1)), ("cnn", cnn_image(1))):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    s = ort.InferenceSession(sys.argv[1 if name == "tabular" else 2], o, providers=["CPUExecutionProvider"])
    for _ in range(3): s.run(None, {{"input": x}})
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < {seconds}:
        s.run(None, {{"input": x}}); n += 1
    out[name] = n / (time.perf_counter() - start)
print(json.dumps(out))
"""
    argv = ["taskset", "-c", SERVER_CORE, sys.executable, "-c", code]
    argv += [str(models["tabular"] / "model.onnx"), str(models["cnn"] / "model.onnx")]
    result = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds * 4 + 120)
    rates: dict[str, float] = json.loads(result.stdout)
    return rates


# --- orchestration --------------------------------------------------------------------------------


def run_server(
    spec: ServerSpec,
    port: int,
    models: dict[str, Path],
    scenarios: dict[str, Scenario],
    duration: int,
    lua: Path,
    collected: Collected,
) -> None:
    try:
        argv, extra_env, _ = spec.command(port, models)
    except RuntimeError as exc:
        collected.skipped[spec.name] = str(exc)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", **extra_env)
    log = CACHE / "bench" / f"{spec.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        try:
            wait_ready(port, spec.ready_path, process)
            for model in models if spec.model_ready else ():  # PyTriton: server ready before its models
                wait_ready(port, f"/v2/models/{model}/ready", process)
        except RuntimeError as exc:
            collected.skipped[spec.name] = f"did not start ({exc}); see {log}"
            print(f"skipping {spec.name}: {collected.skipped[spec.name]}", flush=True)
            return
        for scenario_name in spec.scenarios:  # warm both models, then let the process settle
            scenario = scenarios[scenario_name]
            warm = ["curl", "-s", "-o", "/dev/null", "-X", "POST", "--data-binary", f"@{scenario.body}"]
            if scenario.header_length is not None:
                warm += ["-H", f"Inference-Header-Content-Length: {scenario.header_length}"]
                warm += ["-H", "Content-Type: application/octet-stream"]
            else:
                warm += ["-H", "Content-Type: application/json"]
            subprocess.run(
                [*warm, f"http://127.0.0.1:{port}/v2/models/{scenario.model}/infer"], check=False, timeout=60
            )
        time.sleep(2)
        collected.memory.setdefault(spec.name, []).append(pss_mib(process.pid))
        for scenario_name in spec.scenarios:
            scenario = scenarios[scenario_name]
            rps, p50, p99, errors = run_wrk(port, scenario, duration, lua)
            collected.results.append(Result(spec.name, scenario, rps, p50, p99, errors))
            print(
                f"  {spec.name:22s} {scenario.name:16s} {rps:9.1f} req/s  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  errors {errors}",
                flush=True,
            )
    finally:
        stop(process)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(collected: Collected, in_process: dict[str, float]) -> None:
    rows: dict[tuple[str, str], list[Result]] = {}
    for result in collected.results:
        rows.setdefault((result.server, result.scenario.name), []).append(result)
    print()
    header = f"{'server':22s} {'model':8s} {'protocol':10s} {'conns':>5s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s} {'PSS MiB':>8s}"
    print(header)
    print("-" * len(header))
    rps: dict[tuple[str, str], float] = {}
    p99: dict[tuple[str, str], float] = {}
    for (server, name), results in rows.items():
        scenario = results[0].scenario
        rps[(server, name)] = median([r.rps for r in results])
        p99[(server, name)] = median([r.p99_ms for r in results])
        memory = median(collected.memory.get(server, []))
        print(
            f"{server:22s} {scenario.model:8s} {scenario.protocol:10s} {scenario.connections:5d} "
            f"{rps[(server, name)]:9.1f} {median([r.p50_ms for r in results]):8.2f} {p99[(server, name)]:8.2f} "
            f"{sum(r.errors for r in results):6d} {memory:8.1f}"
        )
    for name, reason in collected.skipped.items():
        print(f"{name:22s} skipped: {reason}")
    print(
        f"\nin-process onnxruntime, one core, batch 1: tabular {in_process['tabular']:.0f} calls/s, cnn {in_process['cnn']:.2f} calls/s"
    )
    print("runs per row:", max((len(r) for r in rows.values()), default=0), "(medians shown)")

    def ratio(a: tuple[str, str], b: tuple[str, str]) -> str:
        if a not in rps or b not in rps:
            return "n/a"
        return f"{rps[a] / rps[b]:.2f}x"

    ours = ("glidepath", "tabular-json-8")
    print("\nTargets")
    for peer_name in ("kserve", "mlserver", "mlserver-no-parallel"):
        print(
            f"1. tabular 8 conns vs {peer_name:22s}: {ratio(ours, (peer_name, 'tabular-json-8'))} (target >= 5x)"
        )
    print(
        f"1. tabular 8 conns vs baseline              : {ratio(ours, ('baseline', 'tabular-json-8'))} (target >= 1.3x)"
    )
    if ours in p99 and ("baseline", "tabular-json-8") in p99:
        print(
            f"1. p99 tabular: glidepath {p99[ours]:.2f} ms vs baseline {p99[('baseline', 'tabular-json-8')]:.2f} ms (target <=)"
        )
    binary = ("glidepath", "cnn-binary-8")
    if binary in rps:
        print(
            f"2. CNN binary vs in-process                 : {rps[binary] / in_process['cnn']:.2f}x (target >= 0.9x)"
        )
    print(
        f"2. CNN binary vs pytriton binary            : {ratio(binary, ('pytriton', 'cnn-binary-8'))} (target > 1x)"
    )
    peers_json = [
        rps[(s, "cnn-json-8")] for s, n in rps if n == "cnn-json-8" and not s.startswith("glidepath")
    ]
    if peers_json and ("glidepath", "cnn-json-8") in rps:
        print(
            f"2. CNN JSON vs best peer                    : {rps[('glidepath', 'cnn-json-8')] / max(peers_json):.2f}x (target >= 1x)"
        )
    ours_memory = median(collected.memory.get("glidepath", []))
    peer_memory = {s: median(m) for s, m in collected.memory.items() if not s.startswith("glidepath")}
    if peer_memory:
        lowest = min(peer_memory, key=lambda s: peer_memory[s])
        print(
            f"3. idle PSS glidepath {ours_memory:.1f} MiB vs lowest other {lowest} {peer_memory[lowest]:.1f} MiB (target below every peer)"
        )
    print(
        f"4. tabular 32 conns batching on vs off      : {ratio(('glidepath+batching', 'tabular-json-32'), ('glidepath', 'tabular-json-32'))} (target > 1x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default %(default)s)")
    parser.add_argument("--only", default="", help="comma-separated server names (default: all)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        print("needs wrk and taskset: apt-get install -y wrk util-linux", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("needs two cores (one for the server, one for wrk)", file=sys.stderr)
        return 2
    models = generate(CACHE / "bench" / "models")
    scenarios = write_bodies(CACHE / "bench" / "bodies")
    lua = CACHE / "bench" / "bodies" / "post.lua"
    only = {name for name in args.only.split(",") if name}
    servers = [s for s in SERVERS if not only or s.name in only]
    for name in {s.name.split("-")[0].split("+")[0] for s in servers} - {"glidepath"}:
        peer_python(name)  # install up front, outside the timed part
    collected = Collected()
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
        for index, spec in enumerate(servers):
            run_server(spec, BASE_PORT + 10 * index, models, scenarios, args.duration, lua, collected)
    report(collected, in_process_rate(models, 10.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
