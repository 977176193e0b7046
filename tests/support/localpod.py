"""Run a rendered pod's containers as local processes, as a container runtime would run them.

The demo and the e2e tests use this to prove that what the operator renders really serves: the
fetcher init container and the runtime container run with exactly their rendered ``command``, ``args``
and ``env``. What a container runtime would provide is emulated on the argv and environment only:
volume mounts map to host directories (an argument under a ``mountPath`` is rewritten), a container
port maps to a host port (an argument equal to the port is rewritten, as ``-p host:container`` would),
the server listens on 127.0.0.1 (``GLIDEPATH_HTTP_HOST``), and the termination message file is a
host file (``GLIDEPATH_TERMINATION_LOG``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LocalPod:
    """The host side of one pod: a directory per volume, a host port per container port.

    volumes: volume name -> host directory. ports: container port -> host port.
    """

    root: Path
    ports: dict[int, int] = field(default_factory=dict)

    def volume(self, name: str) -> Path:
        """Host directory backing volume ``name`` (an emptyDir), created on first use."""
        path = self.root / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def termination_log(self, container: str) -> Path:
        """Host file standing for the container's /dev/termination-log."""
        return self.root / f"{container}.termination-log"

    def argv(self, container: Mapping[str, Any]) -> list[str]:
        """The container's command + args with mount paths and ports mapped to the host."""
        mounts = sorted(
            ((m["mountPath"], self.volume(m["name"])) for m in container.get("volumeMounts") or []),
            key=lambda pair: -len(pair[0]),
        )
        out: list[str] = []
        for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
            for mount_path, host in mounts:
                if arg == mount_path or arg.startswith(mount_path + "/"):
                    arg = str(host) + arg[len(mount_path) :]
                    break
            if arg.isdigit() and int(arg) in self.ports:
                arg = str(self.ports[int(arg)])
            out.append(arg)
        return out

    def env(self, container: Mapping[str, Any]) -> dict[str, str]:
        """The container's env (literal values only), plus the host emulation variables."""
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        for var in container.get("env") or []:
            if "valueFrom" in var:
                raise ValueError(f"env {var['name']}: valueFrom cannot be resolved outside a cluster")
            env[var["name"]] = var.get("value", "")
        env["GLIDEPATH_HTTP_HOST"] = "127.0.0.1"
        env["GLIDEPATH_TERMINATION_LOG"] = str(self.termination_log(container["name"]))
        return env

    def run(self, container: Mapping[str, Any], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run an init container to completion; returns the completed process (text output)."""
        return subprocess.run(
            self.argv(container),
            env=self.env(container),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, container: Mapping[str, Any], log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running container; its stdout and stderr go to ``log``."""
        with log.open("wb") as out:
            return subprocess.Popen(
                self.argv(container),
                env=self.env(container),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
