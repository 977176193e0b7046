"""Bounded retries with exponential backoff for transient storage failures."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from glidepath_runtime.storage.errors import StorageError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry one storage operation.

    Attempt ``n`` (1-based) that fails transiently is followed, after ``min(backoff * 2**(n-1),
    max_backoff)`` seconds times a jitter factor in [1, 1.25), by attempt ``n + 1``, until ``attempts``
    attempts ran or the next one would start more than ``deadline`` seconds after the first.

    Attributes:
        attempts: at most this many attempts (>= 1).
        backoff: the first delay, seconds.
        max_backoff: no delay is longer (before jitter).
        deadline: seconds after the first attempt's start past which no attempt starts.
    """

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    deadline: float = 600.0

    def delay(self, attempt: int) -> float:
        """The nominal delay after failed attempt ``attempt`` (1-based), before jitter."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))


class RetriesExhausted(Exception):
    """The last error of an operation that failed; ``attempts`` and ``elapsed`` say how hard we tried."""

    def __init__(self, error: StorageError, attempts: int, elapsed: float) -> None:
        super().__init__(error.cause)
        self.error = error
        self.attempts = attempts
        self.elapsed = elapsed

    def describe(self) -> str:
        """``cause (not retried)`` or ``cause (gave up after N attempts in T s)``."""
        if not self.error.transient:
            return f"{self.error.cause} (not retried)"
        return f"{self.error.cause} (gave up after {self.attempts} attempts in {self.elapsed:.1f}s)"


def call_with_retry(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``operation``, retrying it on transient :class:`StorageError` as ``policy`` says.

    Args:
        what: names the operation in log lines (``GET s3://b/k``); must not hold credentials.
        log: receives one line per retry.

    Raises:
        RetriesExhausted: a permanent error, or a transient one when attempts or time ran out.
    """
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except StorageError as exc:
            elapsed = clock() - start
            if not exc.transient or attempt >= policy.attempts:
                raise RetriesExhausted(exc, attempt, elapsed) from exc
            delay = policy.delay(attempt) * random.uniform(1.0, 1.25)  # jitter, not crypto
            if elapsed + delay > policy.deadline:
                raise RetriesExhausted(exc, attempt, elapsed) from exc
            log(f"{what}: attempt {attempt}/{policy.attempts} failed: {exc.cause}; retrying in {delay:.2f}s")
            sleep(delay)
