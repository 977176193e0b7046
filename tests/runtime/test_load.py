"""A bounded load test on 127.0.0.1: a mix of good and bad requests from concurrent keep-alive clients.
The server stays live, its memory stays flat, and every good request gets the right answer."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from examples.models.generate import GeneratedModel, sample_inputs
from tests.runtime.harness import HOST, RuntimeProcess, start_runtime
from tests.runtime.test_clients import expected

CLIENTS = 8
ROUNDS = 2
REQUESTS_PER_CLIENT = 250  # per round: 2 x 8 x 250 = 4,000 requests in all
TIME_LIMIT = 60.0


@pytest.fixture(scope="module")
def loaded(good_model: GeneratedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    log = tmp_path_factory.mktemp("load") / "runtime.log"
    args = ["--max-batch-size", "32", "--max-queue-delay-us", "200"]
    with start_runtime(good_model.path.parent, "m", "1", log, extra_args=args) as server:
        yield server


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def run_client(
    port: int, seed: int, want: dict[str, np.ndarray], rows: np.ndarray, tally: Counter[str], deadline: float
) -> None:
    rng = np.random.default_rng(seed)
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    bad_bodies = [
        b"{",
        json.dumps(
            {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
        ).encode(),
        json.dumps(
            {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "INT8", "data": [1] * 8}]}
        ).encode(),
        json.dumps({"inputs": []}).encode(),
    ]
    try:
        for _ in range(REQUESTS_PER_CLIENT):
            if time.monotonic() > deadline:
                tally["timed out"] += 1
                return
            kind = rng.integers(0, 10)
            if kind < 7:  # good: a random slice of the sample rows
                start = int(rng.integers(0, len(rows) - 4))
                count = int(rng.integers(1, 5))
                body = json.dumps(
                    {
                        "inputs": [
                            {
                                "name": "input",
                                "shape": [count, 8],
                                "datatype": "FP32",
                                "data": rows[start : start + count].reshape(-1).tolist(),
                            }
                        ]
                    }
                ).encode()
                conn.request("POST", "/v2/models/m/infer", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = json.loads(response.read())
                outputs = {o["name"]: o["data"] for o in payload.get("outputs", [])}
                ok = (
                    response.status == 200
                    and outputs["label"] == want["label"][start : start + count].tolist()
                )
                tally["good ok" if ok else "good WRONG"] += 1
            elif kind < 9:
                conn.request("POST", "/v2/models/m/infer", bad_bodies[int(rng.integers(0, len(bad_bodies)))])
                response = conn.getresponse()
                response.read()
                tally["bad 400" if response.status == 400 else f"bad {response.status}"] += 1
            else:
                conn.request("POST", "/v2/models/unknown/infer", b"{}")
                response = conn.getresponse()
                response.read()
                tally["unknown 404" if response.status == 404 else f"unknown {response.status}"] += 1
    finally:
        conn.close()


def test_mixed_load_correct_live_and_flat_memory(loaded: RuntimeProcess, good_model: GeneratedModel) -> None:
    rows = sample_inputs(64, seed=3)
    want = expected(good_model, rows)
    deadline = time.monotonic() + TIME_LIMIT
    memory = []
    tally: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        threads = [
            threading.Thread(
                target=run_client, args=(loaded.port, round_ * 100 + i, want, rows, tally, deadline)
            )
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIME_LIMIT)
        memory.append(rss_bytes(loaded.process.pid))
        assert loaded.get("/v2/health/live").status == 200
    assert set(tally) <= {"good ok", "bad 400", "unknown 404"}, tally
    assert sum(tally.values()) == ROUNDS * CLIENTS * REQUESTS_PER_CLIENT
    # The first round warms up (arena, caches); the second must not grow past noise.
    assert memory[1] - memory[0] < 16 * 1024 * 1024, memory
    assert loaded.get("/v2/health/ready").status == 200
    assert "Traceback" not in loaded.log()
