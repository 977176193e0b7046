"""Serve settings: ONNX Runtime session options and the server's limits, with their defaults.

The defaults fit a pod: ONNX Runtime's thread pools are sized to the container's CPU limit (the cgroup
quota, rounded up, and never more than the CPUs the process may run on), not to the host's core count,
which in a pod limited to 2 CPUs on a 64-core node would oversubscribe the quota and get throttled.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: ``--graph-optimization-level`` values, in ONNX Runtime's order.
GRAPH_OPTIMIZATION_LEVELS: Final = ("disable", "basic", "extended", "all")

#: ``--execution-providers`` value that picks CUDA when the installed onnxruntime has it, else CPU.
AUTO_PROVIDERS: Final = "auto"

_CGROUP_V2_CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1_QUOTA: Final = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
_CGROUP_V1_PERIOD: Final = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cgroup_cpu_limit(
    cpu_max: Path = _CGROUP_V2_CPU_MAX, v1_quota: Path = _CGROUP_V1_QUOTA, v1_period: Path = _CGROUP_V1_PERIOD
) -> float | None:
    """The CPU limit of this container in CPUs (``quota / period``), or None when unlimited or unknown.

    Reads cgroup v2 ``cpu.max`` (``"200000 100000"`` or ``"max 100000"``), else cgroup v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1`` means unlimited).
    """
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(v1_quota.read_text().strip())
        period_us = int(v1_period.read_text().strip())
    except (OSError, ValueError):
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def available_cpus() -> int:
    """CPUs this process may use: the cgroup limit rounded up, capped by the CPU affinity mask
    (``taskset``, cpusets), at least 1."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        affinity = min(affinity, math.ceil(limit))
    return max(1, affinity)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """ONNX Runtime session options.

    Attributes:
        intra_op_threads: threads one operator may use; 0: :func:`available_cpus`.
        inter_op_threads: threads across operators (only used by parallel execution); 0: as intra.
        graph_optimization_level: one of :data:`GRAPH_OPTIMIZATION_LEVELS`.
        execution_providers: provider names in priority order, or ``("auto",)``: CUDA when the installed
            onnxruntime offers it, then CPU.
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    graph_optimization_level: str = "all"
    execution_providers: tuple[str, ...] = (AUTO_PROVIDERS,)

    def resolved_intra_op_threads(self) -> int:
        """``intra_op_threads``, or the container's CPUs when 0."""
        return self.intra_op_threads or available_cpus()

    def resolved_inter_op_threads(self) -> int:
        """``inter_op_threads``, or :meth:`resolved_intra_op_threads` when 0."""
        return self.inter_op_threads or self.resolved_intra_op_threads()


@dataclass(frozen=True, slots=True)
class BatchingSettings:
    """Dynamic batching, as Triton defines it.

    Attributes:
        max_batch_size: most rows (first-dimension entries) in one model execution; 0 turns dynamic
            batching off. With it on, a request of more rows gets 400.
        max_queue_delay_us: how long (microseconds) the oldest queued request may wait for more requests
            to fill a batch; 0 batches only what is already queued.
    """

    max_batch_size: int = 0
    max_queue_delay_us: int = 0

    @property
    def enabled(self) -> bool:
        """Whether dynamic batching is on."""
        return self.max_batch_size > 0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What ``glidepath-runtime serve`` runs with (see ``cli.py`` for the flags and variables).

    Attributes:
        host: listen address of HTTP and gRPC.
        http_port: HTTP port.
        grpc_port: gRPC port; 0 turns gRPC off.
        grpc_required: whether failing to listen on ``grpc_port`` is fatal; when the port was not asked
            for explicitly (the default 9000), the server logs an error and serves HTTP alone.
        max_body_bytes: larger request bodies get 413 (and gRPC messages RESOURCE_EXHAUSTED).
        max_queue_size: requests waiting for their model beyond this get 503 with ``Retry-After``.
        inline_run_seconds: a model execution expected to take less than this runs on the event loop
            (no thread hand-off); longer ones run on the model's own thread. 0: always the thread.
        shutdown_delay: seconds between SIGTERM (readiness false) and closing the listeners, while
            Kubernetes removes the pod from its Service endpoints; requests keep being served meanwhile.
        drain_timeout: seconds to wait for in-flight requests after the listeners close.
        keepalive_timeout: seconds an idle HTTP connection stays open.
        access_log: log one JSON line per request.
        session: ONNX Runtime session options.
        batching: dynamic batching.
    """

    host: str = "0.0.0.0"
    http_port: int = 8080
    grpc_port: int = 9000
    grpc_required: bool = True
    max_body_bytes: int = 64 * 1024 * 1024
    max_queue_size: int = 256
    inline_run_seconds: float = 0.001
    shutdown_delay: float = 5.0
    drain_timeout: float = 20.0
    keepalive_timeout: float = 75.0
    access_log: bool = False
    session: SessionSettings = field(default_factory=SessionSettings)
    batching: BatchingSettings = field(default_factory=BatchingSettings)
