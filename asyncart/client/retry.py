"""The one retry policy (tenacity): what is retried, how long to wait, when to give up.

Every retry is announced with one line on stderr (the ``asyncart.retry`` logger at
WARNING: Python prints it as is when the application configured no logging), e.g.
``asyncart: retrying in 0.5 s (2/10): connection refused at http://127.0.0.1:8765``.
"""

from __future__ import annotations

import logging
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
from tenacity.stop import stop_base

from asyncart.client.answers import MalformedAnswer
from asyncart.config import Settings
from asyncart.errors import (
    ConnectError,
    IntegrityError,
    RetriesExhausted,
    ServiceUnavailable,
    TransportError,
)

T = TypeVar("T")
log = logging.getLogger("asyncart.retry")
_REASON_CHARS = 200


def is_retryable(exc: BaseException) -> bool:
    """The single decision on whether a failure is worth another attempt.

    Transport failures (no answer, reset, timeout, truncated body), 429/5xx
    answers, and bytes that arrived corrupted are retried; every other answer
    from the server is final, and so is an answer that breaks the protocol
    (a malformed field, a body over its limit).
    """
    if isinstance(exc, MalformedAnswer):  # the same question would get the same answer
        return False
    if isinstance(exc, ConnectError) and exc.final:  # an unknown host, http/https mixed up
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


class _StopUnanswered(stop_base):
    """Stop once ``patience`` seconds would pass while the server has never answered."""

    def __init__(self, patience: float) -> None:
        self.patience = patience

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not (isinstance(exc, ConnectError) and exc.unanswered):
            return False
        return (state.seconds_since_start or 0.0) + state.upcoming_sleep >= self.patience


def _announce(state: RetryCallState, max_attempts: int) -> None:
    """The one stderr line of a retry: when, which attempt comes next, and why."""
    exc = state.outcome.exception() if state.outcome else None
    reason = str(exc).splitlines()[0] if exc is not None and str(exc) else type(exc).__name__
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 1] + "…"
    sleep = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "asyncart: retrying in %s s (%d/%d): %s",
        f"{sleep:.1f}" if sleep < 10 else f"{sleep:.0f}",
        state.attempt_number + 1,
        max_attempts,
        reason,
    )


def unanswered_hint(last: BaseException) -> str:
    """What to check when every attempt found no server (empty when it did answer once)."""
    if isinstance(last, ConnectError) and last.unanswered:
        return "; is the server running there, and is the URL (--url, ASYNCART_URL) right?"
    return ""


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

    def before_sleep(state: RetryCallState) -> None:
        if stats is not None:
            stats.retries += 1
        _announce(state, settings.max_attempts)

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(settings.max_attempts)
        | stop_before_delay(settings.retry_deadline)
        | _StopUnanswered(settings.connect_patience),
        wait=_Wait(settings.retry_initial_wait, settings.retry_max_wait),
        before_sleep=before_sleep,
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
            f"{what} failed after {attempts} attempt(s); last error: {last}"
            + unanswered_hint(last),
            attempts=attempts,
            last_exception=last,
        ) from last
    raise AssertionError("unreachable: tenacity returned without an outcome")
