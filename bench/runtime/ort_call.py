"""How long one ONNX Runtime call of the tabular model takes, alone and inside the server.

    .venv/bin/python -m bench.runtime.ort_call [--seconds 8]

Prints microseconds per ``run`` of the 100-tree forest (batch 1, one intra-op thread, core 0):

1. in a tight loop;
2. in a loop that also makes a loopback TCP round trip of 600 bytes between calls;
3. inside ``glidepath-runtime serve`` while wrk (core 1, 8 connections) drives V2 JSON requests, timed
   around ``Model.run`` by a wrapper that prints the mean when the server exits.

The gap between 1 and 3 is what the rest of a request (network stack, parsing, encoding) costs the
model through the CPU caches; see the runtime README's Performance section. Needs wrk and taskset, like
``bench.runtime.run``; traffic goes to 127.0.0.1 only and every phase is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

from bench.runtime.models import generate
from bench.runtime.run import (
    BASE_PORT,
    CACHE,
    PINNED_SERVE_FLAGS,
    SERVER_CORE,
    run_wrk,
    stop,
    wait_ready,
    write_bodies,
)

LOOPS: Final = """
import json, socket, sys, time
import numpy as np, onnxruntime as ort
sys.path.insert(0, sys.argv[3])
from bench.runtime.models import tabular_rows
seconds = float(sys.argv[2])
options = ort.SessionOptions(); options.intra_op_num_threads = 1; options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
x = tabular_rows(1)
listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname()); server, _ = listener.accept()
message = b"x" * 600
out = {}
for mode in ("tight", "tcp"):
    calls, in_run, start = 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        if mode == "tcp":
            client.sendall(message); server.recv(4096); server.sendall(message); client.recv(4096)
        t = time.perf_counter(); session.run(None, {"input": x}); in_run += time.perf_counter() - t
        calls += 1
    out[mode] = in_run / calls * 1e6
print(json.dumps(out))
"""

TIMED_SERVE: Final = """
import atexit, sys, time
from glidepath_runtime import model
run, totals = model.Model.run, [0, 0.0]
def timed(self, inputs, names):
    t = time.perf_counter()
    try:
        return run(self, inputs, names)
    finally:
        totals[0] += 1; totals[1] += time.perf_counter() - t
model.Model.run = timed
atexit.register(lambda: print(f"RUN_US {totals[1] / max(1, totals[0]) * 1e6:.2f} CALLS {totals[0]}", flush=True))
from glidepath_runtime.cli import main
sys.exit(main(sys.argv[1:]))
"""


def in_server(model_dir: Path, seconds: int) -> tuple[float, float, int]:
    """(µs per Model.run, requests/s, calls) of the server under 8 connections of V2 JSON."""
    scenario = write_bodies(CACHE / "bench" / "bodies")["tabular-json-8"]
    port = BASE_PORT + 90
    argv = [
        "taskset",
        "-c",
        SERVER_CORE,
        sys.executable,
        "-c",
        TIMED_SERVE,
        "serve",
        "--model-name",
        "tabular",
    ]
    argv += ["--model-dir", str(model_dir), "--http-port", str(port), "--grpc-port", "0"]
    argv += PINNED_SERVE_FLAGS
    env = dict(os.environ, GLIDEPATH_HTTP_HOST="127.0.0.1")
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, start_new_session=True)
    try:
        wait_ready(port, "/v2/models/tabular/ready", process)
        rps, _p50, _p99, _errors = run_wrk(port, scenario, seconds, CACHE / "bench" / "bodies" / "post.lua")
    finally:
        stop(process)
    assert process.stdout is not None
    words = process.stdout.read().decode().split()
    return float(words[words.index("RUN_US") + 1]), rps, int(words[words.index("CALLS") + 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8, help="seconds per phase (default %(default)s)")
    args = parser.parse_args(argv)
    model_dir = generate(CACHE / "bench" / "models")["tabular"]
    repo = str(Path(__file__).resolve().parents[2])
    loops = subprocess.run(
        [
            "taskset",
            "-c",
            SERVER_CORE,
            sys.executable,
            "-c",
            LOOPS,
            str(model_dir / "model.onnx"),
            str(args.seconds),
            repo,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=args.seconds * 4 + 60,
    )
    alone: dict[str, float] = json.loads(loops.stdout)
    served_us, rps, calls = in_server(model_dir, args.seconds)
    print(f"tabular model, ONNX Runtime run, batch 1, one thread on core {SERVER_CORE}:")
    print(f"  tight loop                         : {alone['tight']:7.1f} µs per call")
    print(f"  loop with a loopback TCP round trip: {alone['tcp']:7.1f} µs per call")
    print(
        f"  inside the server under wrk (8 c.) : {served_us:7.1f} µs per call ({calls} calls, {rps:.0f} requests/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
