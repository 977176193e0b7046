"""A real Prometheus (Debian's package) on 127.0.0.1, scraping targets listed in a file_sd file."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.support.cluster import wait_for
from tests.support.operator import stop_process
from tests.support.walkthrough import free_port


class PrometheusServer:
    """``prometheus`` scraping every second whatever :meth:`set_targets` lists (file service discovery,
    picked up without a restart). Listens on 127.0.0.1 only; data in a temporary directory."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("prometheus")
        if found is None:
            raise FileNotFoundError("prometheus not on PATH: `make tools` installs Debian's package")
        self.binary = found
        self.dir = Path(tempfile.mkdtemp(prefix="glidepath-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets_file = self.dir / "targets.json"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusServer:
        self.set_targets([])
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "models",
                    "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
                }
            ],
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = (self.dir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._ready, timeout=60, interval=0.2, what="Prometheus ready")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def set_targets(self, targets: list[tuple[str, dict[str, str]]]) -> None:
        """Scrape these ``host:port`` targets, each with extra labels (as the ServiceMonitor's
        relabelling would add: namespace, the pod's track label)."""
        groups = [{"targets": [addr], "labels": labels} for addr, labels in targets]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(self.targets_file)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant query's result list."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
