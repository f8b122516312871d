"""The one retry policy (tenacity): what is retried, how long to wait, when to give up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from asyncart.client.answers import MalformedAnswer
from asyncart.config import Settings
from asyncart.errors import IntegrityError, RetriesExhausted, ServiceUnavailable, TransportError

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """The single decision on whether a failure is worth another attempt.

    Transport failures (no answer, reset, timeout, truncated body), 429/5xx
    answers, and bytes that arrived corrupted are retried; every other answer
    from the server is final, and so is an answer that breaks the protocol
    (a malformed field, a body over its limit).
    """
    if isinstance(exc, MalformedAnswer):  # the same question would get the same answer
        return False
    return isinstance(exc, (TransportError, ServiceUnavailable, IntegrityError))


class _Wait:
    """Exponential backoff with full jitter, never shorter than a server's Retry-After."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum

    def __call__(self, state: RetryCallState) -> float:
        backoff = min(self.maximum, self.initial * 2 ** (state.attempt_number - 1))
        wait = random.uniform(backoff / 2, backoff)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ServiceUnavailable) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.maximum * 6))
        return wait


class RetryStats:
    """Counts retries across a transfer (reported by progress and benchmarks)."""

    def __init__(self) -> None:
        self.retries = 0


async def with_retries(
    settings: Settings,
    what: str,
    operation: Callable[[], Awaitable[T]],
    stats: RetryStats | None = None,
) -> T:
    """Run ``operation`` under the retry policy.

    Raises:
        RetriesExhausted: naming ``what`` (URL, chunk or pack) and the last cause.
        AsyncartError: a non-retryable failure, at once.
    """

    def count(state: RetryCallState) -> None:
        if stats is not None:
            stats.retries += 1

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(settings.max_attempts) | stop_before_delay(settings.retry_deadline),
        wait=_Wait(settings.retry_initial_wait, settings.retry_max_wait),
        before_sleep=count,
        reraise=False,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                return await operation()
    except Exception as exc:
        cause = getattr(exc, "last_attempt", None)
        last = cause.exception() if cause is not None else None
        if last is None:
            raise
        raise RetriesExhausted(
            f"{what} failed after {attempts} attempt(s); last error: {last}",
            attempts=attempts,
            last_exception=last,
        ) from last
    raise AssertionError("unreachable: tenacity returned without an outcome")
