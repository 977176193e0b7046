"""The operator as a real process (``glidepath run``), pointed at a LocalCluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from tests.support.cluster import LocalCluster


def stop_group(proc: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout: float) -> int | None:
    """Signal a process started with ``start_new_session`` and its group, wait ``timeout`` seconds
    (then SIGKILL), and return its exit code; None if it never started."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    os.killpg(proc.pid, sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM a child process, wait ``timeout`` seconds, then SIGKILL it; nothing if it has exited."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class OperatorProcess:
    """``python -m glidepath.cli run --standalone`` (all namespaces) with the cluster's kubeconfig.

    env: extra environment (GLIDEPATH_RESYNC_SECONDS, GLIDEPATH_RUNTIME_IMAGE ...). Logs go to ``log``.
    """

    def __init__(
        self, cluster: LocalCluster, log: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.cluster = cluster
        self.args = args
        self.log = log
        self.extra_env = {"GLIDEPATH_RESYNC_SECONDS": "5", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        """Start the process; raises RuntimeError if it exits within its first second."""
        env = {**self.cluster.env(), **self.extra_env, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "glidepath.cli", "run", "--standalone", *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"the operator exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}"
            )
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Send ``sig`` (SIGKILL to kill it mid-work), wait, and return the exit code."""
        return stop_group(self.proc, sig, timeout)

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
