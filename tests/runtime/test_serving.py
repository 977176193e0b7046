"""Serving behaviour: dynamic batching, back-pressure, HTTP limits and protocol corners, graceful
shutdown, logs, and the settings that come from the container (cgroup CPU limit)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from glidepath_runtime.config import BatchingSettings, SessionSettings, available_cpus, cgroup_cpu_limit
from glidepath_runtime.errors import BadRequest, Overloaded
from glidepath_runtime.metrics import RuntimeMetrics
from glidepath_runtime.model import Model, resolve_providers
from glidepath_runtime.scheduler import Scheduler
from prometheus_client.parser import text_string_to_metric_families

from examples.models.generate import GeneratedModel, sample_inputs
from tests.runtime.harness import HOST, RuntimeProcess, http_request, start_runtime
from tests.runtime.models import SLOW_WIDTH
from tests.runtime.test_clients import expected

INFER = "/v2/models/m/infer"


def scheduler_for(path: Path, **kwargs: Any) -> Scheduler:
    model = Model("m", path, "1", session=SessionSettings(intra_op_threads=1))
    model.load()
    return Scheduler(model, RuntimeMetrics().for_model("m", "1"), **kwargs)


# --- dynamic batching -----------------------------------------------------------------------------


def test_dynamic_batching_combines_and_splits_exactly(good_model: GeneratedModel) -> None:
    scheduler = scheduler_for(
        good_model.path, batching=BatchingSettings(max_batch_size=8, max_queue_delay_us=50_000)
    )
    rows = sample_inputs(11)
    sizes = [1, 2, 3, 1, 1, 3]  # 11 rows: a full batch of 8 at once, the last 3 after the delay

    async def run() -> list[dict[str, np.ndarray]]:
        offsets = np.cumsum([0, *sizes])
        futures = [scheduler.submit({"input": rows[a:b]}, None) for a, b in itertools.pairwise(offsets)]
        return list(await asyncio.gather(*futures))

    started = time.perf_counter()
    results = asyncio.run(run())
    assert time.perf_counter() - started >= 0.04  # the partial batch waited for max_queue_delay
    want = expected(good_model, rows)
    got_labels = np.concatenate([r["label"] for r in results])
    np.testing.assert_array_equal(got_labels, want["label"])
    np.testing.assert_allclose(
        np.concatenate([r["probabilities"] for r in results]), want["probabilities"], rtol=1e-6
    )
    assert [r["label"].shape[0] for r in results] == sizes
    batch = scheduler.metrics.batch
    assert (batch.count, batch.sum) == (2, 11)  # two executions: 8 rows, then 3


def test_batching_keeps_incompatible_requests_apart(good_model: GeneratedModel) -> None:
    scheduler = scheduler_for(good_model.path, batching=BatchingSettings(max_batch_size=32))
    rows = sample_inputs(4)

    async def run() -> list[dict[str, np.ndarray]]:
        futures = [
            scheduler.submit({"input": rows[:2]}, None),
            scheduler.submit({"input": rows[2:]}, ["probabilities"]),  # other outputs: its own batch
            scheduler.submit({"input": rows[:1]}, None),
        ]
        return list(await asyncio.gather(*futures))

    first, second, third = asyncio.run(run())
    assert list(second) == ["probabilities"]
    assert first["label"].shape == (2,)
    assert third["label"].shape == (1,)
    with pytest.raises(BadRequest, match="max_batch_size is 32"):
        asyncio.run(_submit(scheduler, sample_inputs(33)))


async def _submit(scheduler: Scheduler, rows: np.ndarray) -> Any:
    return await scheduler.submit({"input": rows}, None)


def test_queue_full_is_overloaded(slow_model: Path) -> None:
    scheduler = scheduler_for(slow_model, max_queue_size=2, inline_run_seconds=0)
    x = np.ones((200, SLOW_WIDTH), np.float32)

    async def run() -> list[Any]:
        running = scheduler.submit({"x": x}, None)  # goes to the model's thread at once
        await asyncio.sleep(0)
        queued = [scheduler.submit({"x": x[:1]}, None) for _ in range(2)]
        with pytest.raises(Overloaded, match="2 requests queued"):
            scheduler.submit({"x": x[:1]}, None)
        return list(await asyncio.gather(running, *queued))

    results = asyncio.run(run())
    assert [r["y"].shape[0] for r in results] == [200, 1, 1]


# --- over a socket: limits, protocol corners, logs ------------------------------------------------


@pytest.fixture(scope="module")
def limited(good_model: GeneratedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    log = tmp_path_factory.mktemp("limited") / "runtime.log"
    args = [
        "--max-body-bytes",
        "4000",
        "--access-log",
        "--max-batch-size",
        "16",
        "--max-queue-delay-us",
        "500",
    ]
    with start_runtime(good_model.path.parent, "m", "1", log, extra_args=args) as server:
        yield server


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``, read until the server closes or ``timeout``."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def infer_bytes(rows: np.ndarray) -> bytes:
    tensor = {
        "name": "input",
        "shape": list(rows.shape),
        "datatype": "FP32",
        "data": rows.reshape(-1).tolist(),
    }
    return json.dumps({"inputs": [tensor]}).encode()


def test_body_limits(limited: RuntimeProcess) -> None:
    response = limited.post(INFER, infer_bytes(sample_inputs(100)))
    assert response.status == 413
    assert "over 4000 bytes" in response.json()["error"]
    chunked = (
        b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (1000, b"x" * 1000) for _ in range(5))
        + b"0\r\n\r\n"
    )
    answer = raw_exchange(limited.port, chunked)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer
    assert limited.post(INFER, infer_bytes(sample_inputs(2))).status == 200  # the server is fine


def test_pipelining_keeps_order_and_100_continue(limited: RuntimeProcess) -> None:
    bodies = [infer_bytes(sample_inputs(n)) for n in (1, 2, 3)]
    requests = b"".join(
        b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nx-request-id: p%d\r\n\r\n%s"
        % (len(body), i, body)
        for i, body in enumerate(bodies)
    )
    requests += b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(limited.port, requests)
    assert answer.count(b"HTTP/1.1 200 OK") == 4
    assert [answer.index(b"x-request-id: p%d" % i) for i in range(3)] == sorted(
        answer.index(b"x-request-id: p%d" % i) for i in range(3)
    )
    body = bodies[0]
    with socket.create_connection((HOST, limited.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        (b"GET /v2 HTTP/1.0\r\n\r\n", b"200"),
        (b"GET /v2%2Fx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"404"),
        (b"DELETE /v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"405"),
    ],
)
def test_protocol_corners(limited: RuntimeProcess, request_bytes: bytes, status: bytes) -> None:
    answer = raw_exchange(limited.port, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert http_request(limited.port, "GET", "/v2/health/live").status == 200


def test_access_log_is_json_with_the_request_id(limited: RuntimeProcess) -> None:
    limited.post(INFER, infer_bytes(sample_inputs(1)), headers={"x-request-id": "log-me-1"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in limited.log().splitlines() if line.startswith("{")]
        entries = [e for e in lines if e.get("request_id") == "log-me-1"]
        if entries:
            break
        time.sleep(0.05)
    (entry,) = entries
    assert entry["logger"] == "glidepath_runtime.access"
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", INFER, 200)
    assert entry["duration_ms"] > 0
    assert all({"time", "level", "logger", "message"} <= set(e) for e in lines)


# --- graceful shutdown ----------------------------------------------------------------------------


def test_sigterm_turns_unready_finishes_in_flight_and_exits_0(slow_model: Path, tmp_path: Path) -> None:
    rows = np.ones((1500, SLOW_WIDTH), np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    ).encode()
    args = ["--shutdown-delay", "1.0", "--drain-timeout", "20"]
    with start_runtime(slow_model.parent, "m", "1", tmp_path / "log", extra_args=args) as server:
        results: dict[str, Any] = {}

        def slow_request() -> None:
            results["slow"] = http_request(
                server.port,
                "POST",
                INFER,
                header + rows.tobytes(),
                timeout=60,
                headers={"Inference-Header-Content-Length": str(len(header))},
            )

        thread = threading.Thread(target=slow_request)
        thread.start()
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and 'glidepath_inference_requests_in_flight{model="m",version="1"} 1.0'
            not in server.get("/metrics").body.decode()
        ):
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        assert server.get("/v2/health/ready").status == 503  # at once
        assert server.get("/v2/models/m/ready").status == 503
        quick = server.post(
            INFER,
            {
                "inputs": [
                    {"name": "x", "shape": [1, SLOW_WIDTH], "datatype": "FP32", "data": [0.0] * SLOW_WIDTH}
                ]
            },
        )
        assert quick.status == 200  # still served during the shutdown delay
        thread.join(60)
        assert results["slow"].status == 200
        assert int(results["slow"].headers["inference-header-content-length"]) > 0
        assert server.process.wait(30) == 0
    log = server.log()
    assert "SIGTERM received" in log
    assert "drain ended with requests still in flight" not in log


# --- settings from the container ------------------------------------------------------------------


def test_cgroup_cpu_limit(tmp_path: Path) -> None:
    v2 = tmp_path / "cpu.max"
    missing = tmp_path / "absent"
    v2.write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2, missing, missing) == 1.5
    v2.write_text("max 100000\n")
    assert cgroup_cpu_limit(v2, missing, missing) is None
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("200000\n")
    period.write_text("100000\n")
    assert cgroup_cpu_limit(missing, quota, period) == 2.0
    quota.write_text("-1\n")
    assert cgroup_cpu_limit(missing, quota, period) is None
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


def test_execution_providers() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(["auto"], available) == available
    assert resolve_providers(["auto"], ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert resolve_providers(["cpu"], available) == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="'tensorrt' is not available"):
        resolve_providers(["tensorrt"], available)


def test_overloaded_is_503_with_retry_after() -> None:
    from glidepath_runtime.rest import _error

    response = _error(Overloaded("model 'm' has 256 requests queued (the maximum); retry later"))
    assert response.status == 503
    assert response.headers == [(b"retry-after", b"1")]


def test_metrics_cover_every_protocol_queue_batches_and_readiness(limited: RuntimeProcess) -> None:
    assert limited.post(INFER, infer_bytes(sample_inputs(3))).status == 200
    predict = limited.post("/v1/models/m:predict", {"instances": sample_inputs(2).tolist()})
    assert predict.status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(limited.get("/metrics").body.decode())
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"model": "m", "version": "1", **labels}.items())))]

    assert value("glidepath_inference_requests_total", protocol="tfserving", code="200") >= 1
    assert value("glidepath_inference_requests_total", protocol="grpc", code="200") == 0
    assert value("glidepath_inference_requests_in_flight") == 0
    assert value("glidepath_inference_queue_size") == 0
    assert value("glidepath_model_ready") == 1
    assert value("glidepath_inference_batch_size_count") >= 2
    assert value("glidepath_inference_batch_size_sum") >= 5
    assert value("glidepath_inference_queue_duration_seconds_bucket", le="+Inf") >= 2
    assert value("glidepath_inference_request_duration_seconds_count", protocol="v2") >= 1
