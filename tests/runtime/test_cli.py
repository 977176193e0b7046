"""``glidepath-runtime serve`` start-up failures, and the example model generator."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime as ort
from glidepath_runtime.serve_command import DEFAULT_GRPC_PORT

from examples.models.generate import GeneratedModel, build
from tests.runtime.harness import HOST, free_port, http_request, run_cli, runtime_env


def serve(model_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("serve", "--model-name", "m", "--model-dir", str(model_dir), "--http-port", "0", env=env)


def test_serve_without_an_onnx_file_exits_5(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("no model here")
    result = serve(tmp_path)
    assert result.returncode == 5
    assert f"no *.onnx file in model directory {tmp_path}" in result.stderr
    assert "README" in result.stderr


def test_serve_with_several_onnx_files_exits_5(tmp_path: Path, good_model: GeneratedModel) -> None:
    for name in ("a.onnx", "b.onnx"):
        shutil.copy(good_model.path, tmp_path / name)
    result = serve(tmp_path)
    assert result.returncode == 5
    assert "several *.onnx files" in result.stderr
    assert "['a.onnx', 'b.onnx']" in result.stderr


def test_serve_with_a_missing_dir_exits_5(tmp_path: Path) -> None:
    result = serve(tmp_path / "absent")
    assert result.returncode == 5
    assert "does not exist" in result.stderr


def test_serve_with_an_invalid_model_exits_5_and_writes_termination_log(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(b"garbage")
    log = tmp_path / "termination-log"
    result = serve(model_dir, env={"GLIDEPATH_TERMINATION_LOG": str(log)})
    assert result.returncode == 5
    assert "failed to load" in result.stderr
    assert log.read_text().startswith("error: model 'm' failed to load")


def test_serve_requires_model_name() -> None:
    result = run_cli("serve", "--model-dir", "/tmp")
    assert result.returncode == 2
    assert "--model-name" in result.stderr


def test_generator_is_deterministic_and_prints_sha256(good_model: GeneratedModel, tmp_path: Path) -> None:
    assert build("good") == good_model.path.read_bytes()
    assert hashlib.sha256(good_model.path.read_bytes()).hexdigest() == good_model.sha256
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(repo / "examples" / "models" / "generate.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "7"},
    )
    assert result.stdout.strip() == f"{good_model.sha256}  {tmp_path / 'model.onnx'}"


def test_generated_variants_signatures(
    good_model: GeneratedModel, bad_model: GeneratedModel, zipmap_model: GeneratedModel
) -> None:
    def signature(model: GeneratedModel) -> list[tuple[str, str, list[object]]]:
        session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
        return [(a.name, a.type, a.shape) for a in [*session.get_inputs(), *session.get_outputs()]]

    assert signature(good_model) == [
        ("input", "tensor(float)", [None, 8]),
        ("label", "tensor(int64)", [None]),
        ("probabilities", "tensor(float)", [None, 3]),
    ]
    assert signature(bad_model)[0] == ("input", "tensor(float)", [None, 6])
    assert signature(zipmap_model)[2] == ("output_probability", "seq(map(int64,tensor(float)))", [])


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "glidepath-runtime"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("glidepath-runtime ")


def test_serve_exits_1_when_an_explicit_grpc_port_is_taken(good_model: GeneratedModel) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        grpc_port = taken.getsockname()[1]
        result = run_cli(
            "serve",
            "--model-name",
            "m",
            "--model-dir",
            str(good_model.path.parent),
            "--http-port",
            str(free_port()),
            "--grpc-port",
            str(grpc_port),
        )
    assert result.returncode == 1
    assert f"cannot listen: gRPC could not listen on 127.0.0.1:{grpc_port}" in result.stderr


def test_serve_without_grpc_port_serves_http_when_the_default_port_is_taken(
    good_model: GeneratedModel, tmp_path: Path
) -> None:
    """The default gRPC port (9000) is only a default: when it is taken, HTTP is served and an error
    says how to make it fatal. Port 9000 is held here (or already held by someone else)."""
    holder = socket.socket()
    try:
        holder.bind((HOST, DEFAULT_GRPC_PORT))
        holder.listen()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    env = runtime_env()
    env.pop("GLIDEPATH_GRPC_PORT", None)
    port = free_port()
    log_path = tmp_path / "runtime.log"
    with log_path.open("wb") as log:
        argv = [sys.executable, "-m", "glidepath_runtime.cli", "serve", "--model-name", "m"]
        argv += [
            "--model-dir",
            str(good_model.path.parent),
            "--http-port",
            str(port),
            "--shutdown-delay",
            "0",
        ]
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = http_request(port, "GET", "/v2/health/ready").status
            except OSError:
                ready = None
            if ready == 200:
                break
            time.sleep(0.05)
        assert ready == 200, log_path.read_text()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        holder.close()
    output = log_path.read_text()
    assert "serving HTTP only" in output
    assert "pass --grpc-port to make this fatal" in output
    assert "gRPC port off" in output


def test_serve_rejects_out_of_range_settings(good_model: GeneratedModel) -> None:
    result = serve(good_model.path.parent, env={"GLIDEPATH_MAX_QUEUE_SIZE": "0"})
    assert result.returncode == 2
    assert "--max-queue-size 0 is out of range" in result.stderr
    bad = run_cli("serve", "--model-name", "m", "--model-dir", "/tmp", "--extra-model", "nodir")
    assert bad.returncode == 2
    assert "--extra-model must be NAME[@VERSION]=DIR" in bad.stderr
