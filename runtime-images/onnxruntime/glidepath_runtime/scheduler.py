"""Per-model request queue, dynamic batcher and executor.

Every decoded inference request becomes a job in its model's bounded queue (full: 503 with
``Retry-After``). Jobs run one execution at a time per model, in arrival order:

- **Dynamic batching** (Triton's ``max_batch_size`` and ``max_queue_delay_microseconds``), for models
  whose inputs and outputs all have a dynamic first dimension: consecutive queued jobs with the same
  input dtypes, the same non-batch dimensions and the same requested outputs are concatenated along the
  first dimension, up to ``max_batch_size`` rows, and the outputs are split back row-exactly. A batch
  that is not full waits up to ``max_queue_delay`` after its oldest job arrived for more jobs. If ONNX
  Runtime rejects a combined batch, or an output's first dimension is not the batch's, the jobs are run
  one by one so each gets its own answer.
- **Where it runs**: an execution expected to finish within ``inline_run_seconds`` runs right on the
  event loop, which saves the thread hand-off (tens of microseconds, more than a small tabular model's
  whole run); longer ones run on the model's own worker thread (ONNX Runtime releases the GIL), so the
  loop keeps answering health checks and reading the next requests. The expectation is the
  execution's input bytes times the model's recent CPU seconds per input byte (an exponential moving
  average of the executing thread's CPU time), so a large batch of a fast model still goes to the
  thread. Until a first execution is measured, everything goes to the thread.

Everything here runs on the event loop except :meth:`Scheduler._execute` in the worker thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from glidepath_runtime.config import BatchingSettings
from glidepath_runtime.errors import BadRequest, InferenceError, Overloaded
from glidepath_runtime.metrics import ModelMetrics
from glidepath_runtime.model import Array, Model

log = logging.getLogger(__name__)

#: Weight of the newest measurement in the seconds-per-byte moving average.
_EWMA_WEIGHT: Final = 0.2
#: A measurement counts as at most this multiple of the current estimate.
_MAX_STEP: Final = 4.0

Outputs = dict[str, Array]
Outcome = Outputs | BaseException


@dataclass(slots=True, eq=False)
class Job:
    """One queued request: validated inputs, the outputs to compute, and the future of its outputs."""

    inputs: dict[str, Array]
    names: list[str]
    rows: int
    nbytes: int
    key: tuple[Any, ...]
    enqueued: float
    future: asyncio.Future[Outputs] = field(repr=False)


class Scheduler:
    """Queue, batch and execute the requests of one :class:`~glidepath_runtime.model.Model`.

    Args:
        model: the model (may still be loading; jobs are only accepted once it is ready).
        metrics: where queue time, batch sizes and the queue size are recorded.
        batching: dynamic batching settings; ignored (with a warning at first use) for a model without
            a dynamic first dimension on every input and output.
        max_queue_size: queued (not yet executing) jobs beyond this are refused with
            :class:`~glidepath_runtime.errors.Overloaded`.
        inline_run_seconds: see the module documentation; 0 always uses the worker thread.
    """

    def __init__(
        self,
        model: Model,
        metrics: ModelMetrics,
        *,
        batching: BatchingSettings | None = None,
        max_queue_size: int = 256,
        inline_run_seconds: float = 0.001,
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.batching = batching or BatchingSettings()
        self.max_queue_size = max_queue_size
        self.inline_run_seconds = inline_run_seconds
        self._queue: deque[Job] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"glidepath-run-{model.name}")
        self._busy = False
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._seconds_per_byte: float | None = None
        self._batch_enabled: bool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        metrics.track_queue_size(lambda: len(self._queue))

    @property
    def queue_size(self) -> int:
        """Jobs waiting (not executing)."""
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """No job is queued or executing."""
        return not self._queue and not self._busy

    def _batching_on(self) -> bool:
        enabled = self._batch_enabled
        if enabled is None:
            enabled = self.batching.enabled and self.model.batchable
            if self.batching.enabled and not enabled:
                log.warning(
                    "dynamic batching is off for model %r: not every input and output has a dynamic "
                    "first dimension",
                    self.model.name,
                )
            self._batch_enabled = enabled
        return enabled

    def submit(self, inputs: dict[str, Array], output_names: Sequence[str] | None) -> asyncio.Future[Outputs]:
        """Like :meth:`run_or_submit`, always as a future."""
        result = self.run_or_submit(inputs, output_names)
        if isinstance(result, dict):
            future: asyncio.Future[Outputs] = self._running_loop().create_future()
            future.set_result(result)
            return future
        return result

    def run_or_submit(
        self, inputs: dict[str, Array], output_names: Sequence[str] | None
    ) -> Outputs | asyncio.Future[Outputs]:
        """Validate a request, then run it at once when nothing is queued or running and it is
        expected to be quick (returns its outputs by name), else queue it (returns a future of them).

        Raises:
            NotReady: the model is not loaded.
            BadRequest: the inputs or output names do not fit the model, or (dynamic batching on) the
                request has more than ``max_batch_size`` rows.
            Overloaded: the queue is full.
        """
        names = self.model.validate(inputs, output_names)
        loop = self._running_loop()
        batching = self._batching_on()
        first = next(iter(inputs.values()))
        rows = first.shape[0] if first.ndim and self.model.batchable else 1
        key: tuple[Any, ...] = ()
        if batching:
            if rows > self.batching.max_batch_size:
                raise BadRequest(
                    f"the request has {rows} rows (first dimension) but max_batch_size is "
                    f"{self.batching.max_batch_size}"
                )
            key = (
                tuple(names),
                tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(inputs.items())),
            )
        if len(self._queue) >= self.max_queue_size:
            raise Overloaded(
                f"model {self.model.name!r} has {len(self._queue)} requests queued (the maximum); retry later"
            )
        nbytes = sum(a.nbytes for a in inputs.values())
        if not batching and not self._queue and not self._busy and self._inline(nbytes):
            # Nothing to wait for or batch with: run now, without a future or a trip through the loop.
            self.metrics.queued(0.0)
            start = time.perf_counter()
            try:
                results = self.model.run(inputs, names)
            finally:
                self.metrics.executed(rows)
                self._measured(time.perf_counter() - start, nbytes)
            return dict(zip(names, results, strict=True))
        job = Job(inputs, names, rows, nbytes, key, time.perf_counter(), loop.create_future())
        self._queue.append(job)
        if not self._scheduled and not self._busy:
            self._scheduled = True
            loop.call_soon(self._drain)
        return job.future

    # --- on the event loop ------------------------------------------------------------------------

    def _drain(self) -> None:
        """Start executions for queued jobs: inline ones until the queue is empty or one must go to
        the worker thread (which then runs alone until it calls back)."""
        self._scheduled = False
        while not self._busy and self._queue:
            batch = self._take_batch()
            if batch is None:
                return
            if self._inline(sum(job.nbytes for job in batch)):
                self._finish(batch, *self._execute(batch, threaded=False))
                continue
            self._busy = True
            future = self._running_loop().run_in_executor(self._executor, self._execute, batch, True)
            future.add_done_callback(lambda f, batch=batch: self._threaded_done(batch, f))  # type: ignore[misc]

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop, remembered: ``asyncio.get_running_loop()`` costs a ``getpid()`` system call."""
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _inline(self, nbytes: int) -> bool:
        """Whether an execution over ``nbytes`` input bytes is expected to be quick enough for the loop."""
        rate = self._seconds_per_byte
        return rate is not None and rate * nbytes < self.inline_run_seconds

    def _threaded_done(
        self, batch: list[Job], future: asyncio.Future[tuple[list[Outcome], list[int]]]
    ) -> None:
        self._busy = False
        try:
            outcomes, executions = future.result()
        except BaseException as exc:  # executor shut down, or a bug in _execute
            outcomes, executions = [exc] * len(batch), []
        self._finish(batch, outcomes, executions)
        if self._queue and not self._scheduled:
            self._scheduled = True
            self._running_loop().call_soon(self._drain)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._scheduled:
            self._drain()

    def _take_batch(self) -> list[Job] | None:
        """Pop the next batch, or None when the batcher should wait for more jobs (a timer is set)."""
        queue = self._queue
        while queue and queue[0].future.cancelled():
            queue.popleft()
        if not queue:
            return None
        now = time.perf_counter()
        if not self._batching_on():
            job = queue.popleft()
            self.metrics.queued(now - job.enqueued)
            return [job]
        head = queue[0]
        max_rows = self.batching.max_batch_size
        rows, count = head.rows, 1
        for job in itertools.islice(queue, 1, None):
            if job.key != head.key or rows + job.rows > max_rows:
                break
            rows += job.rows
            count += 1
        full = rows >= max_rows or count < len(queue)
        if not full and self.batching.max_queue_delay_us > 0:
            wait = head.enqueued + self.batching.max_queue_delay_us / 1e6 - now
            if wait > 0:
                if self._timer is None:
                    self._timer = self._running_loop().call_later(wait, self._on_timer)
                return None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = [queue.popleft() for _ in range(count)]
        for job in batch:
            self.metrics.queued(now - job.enqueued)
        return batch

    def _finish(self, batch: list[Job], outcomes: list[Outcome], executions: list[int]) -> None:
        for rows in executions:
            self.metrics.executed(rows)
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.future.done():  # cancelled: the client went away
                continue
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    # --- on the event loop (inline) or the worker thread -----------------------------------------

    def _execute(self, batch: list[Job], threaded: bool) -> tuple[list[Outcome], list[int]]:
        """Run a batch: one outcome (outputs or the exception) per job, in order, and the rows of each
        model execution (for the metrics, recorded on the loop)."""
        # In the worker thread: CPU time of the thread, not wall time, which includes waiting for the
        # GIL after ONNX Runtime returns (up to the 5 ms switch interval while the loop is busy) and
        # would make a fast model look slow and keep it off the loop. On the loop: wall time (the
        # thread CPU clock is a system call that can cost microseconds in a VM).
        clock = time.thread_time if threaded else time.perf_counter
        start = clock()
        executions: list[int] = []
        if len(batch) == 1:
            outcomes = [self._run_one(batch[0], executions)]
        else:
            outcomes = self._run_combined(batch, executions)
        self._measured(clock() - start, sum(job.nbytes for job in batch))
        return outcomes, executions

    def _measured(self, elapsed: float, nbytes: int) -> None:
        """Fold one execution's time into the seconds-per-byte estimate."""
        rate = elapsed / max(1, nbytes)
        previous = self._seconds_per_byte
        if previous is None:
            self._seconds_per_byte = rate
        else:
            # One slow sample (the process was preempted mid-run, a page fault) moves the estimate by
            # at most _MAX_STEP x: a fast model must not flap over to the thread on a noisy node.
            rate = min(rate, previous * _MAX_STEP)
            self._seconds_per_byte = previous + _EWMA_WEIGHT * (rate - previous)

    def _run_one(self, job: Job, executions: list[int]) -> Outcome:
        executions.append(job.rows)
        try:
            return dict(zip(job.names, self.model.run(job.inputs, job.names), strict=True))
        except InferenceError as exc:
            return exc
        except Exception as exc:
            log.exception("model %r execution failed", self.model.name)
            return exc

    def _run_combined(self, batch: list[Job], executions: list[int]) -> list[Outcome]:
        names = batch[0].names
        rows = [job.rows for job in batch]
        total = sum(rows)
        inputs = {name: np.concatenate([job.inputs[name] for job in batch]) for name in batch[0].inputs}
        try:
            results = self.model.run(inputs, names)
        except InferenceError:
            return [self._run_one(job, executions) for job in batch]
        except Exception as exc:
            log.exception("model %r execution failed", self.model.name)
            executions.append(total)
            return [exc] * len(batch)
        if any(result.ndim == 0 or result.shape[0] != total for result in results):
            log.warning(
                "model %r returned outputs whose first dimension is not the batch's; running requests "
                "one by one",
                self.model.name,
            )
            self._batch_enabled = False
            return [self._run_one(job, executions) for job in batch]
        executions.append(total)
        offsets = list(itertools.accumulate(rows[:-1]))
        parts = [np.split(result, offsets) for result in results]
        return [dict(zip(names, [part[i] for part in parts], strict=True)) for i in range(len(batch))]

    def close(self) -> None:
        """Stop the worker thread (queued jobs are not run)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
