"""Retry policy: exponential backoff with a cap, bounded attempts and total time, no retry of permanent
errors. A fake clock: no sleeping."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from glidepath_runtime.storage.errors import StorageError
from glidepath_runtime.storage.retry import RetriesExhausted, RetryPolicy, call_with_retry


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _failing(errors: list[StorageError]) -> Callable[[], str]:
    def operation() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    return operation


def test_backoff_doubles_up_to_the_cap_then_succeeds() -> None:
    clock = _Clock()
    errors = [StorageError("HTTP 503", transient=True) for _ in range(4)]
    lines: list[str] = []
    policy = RetryPolicy(attempts=5, backoff=1.0, max_backoff=3.0, deadline=100)
    result = call_with_retry(
        _failing(errors), policy, what="GET x", log=lines.append, sleep=clock.sleep, clock=lambda: clock.now
    )
    assert result == "ok"
    nominal = [1.0, 2.0, 3.0, 3.0]
    assert all(n <= s < n * 1.25 for n, s in zip(nominal, clock.sleeps, strict=True))
    assert lines[0].startswith("GET x: attempt 1/5 failed: HTTP 503; retrying in ")


def test_attempts_are_bounded() -> None:
    clock = _Clock()
    errors = [StorageError("timed out", transient=True) for _ in range(10)]
    with pytest.raises(RetriesExhausted) as caught:
        call_with_retry(
            _failing(errors),
            RetryPolicy(attempts=3, backoff=0.5),
            what="x",
            log=lambda _: None,
            sleep=clock.sleep,
            clock=lambda: clock.now,
        )
    assert caught.value.attempts == 3
    assert len(clock.sleeps) == 2
    assert caught.value.describe().startswith("timed out (gave up after 3 attempts in ")


def test_total_time_is_bounded() -> None:
    clock = _Clock()
    errors = [StorageError("HTTP 500", transient=True) for _ in range(10)]
    with pytest.raises(RetriesExhausted) as caught:
        call_with_retry(
            _failing(errors),
            RetryPolicy(attempts=10, backoff=4, deadline=10),
            what="x",
            log=lambda _: None,
            sleep=clock.sleep,
            clock=lambda: clock.now,
        )
    assert caught.value.attempts == 2  # 4 s + 8 s of waiting would pass the 10 s deadline
    assert clock.now <= 10


def test_permanent_errors_are_not_retried() -> None:
    clock = _Clock()
    with pytest.raises(RetriesExhausted) as caught:
        call_with_retry(
            _failing([StorageError("HTTP 403 AccessDenied", transient=False)]),
            RetryPolicy(),
            what="x",
            log=lambda _: None,
            sleep=clock.sleep,
            clock=lambda: clock.now,
        )
    assert clock.sleeps == []
    assert caught.value.describe() == "HTTP 403 AccessDenied (not retried)"
