"""How many transfers run at once: start at the configured level, grow while throughput grows.

One fixed level cannot serve both a server on loopback (where a few parallel
requests saturate the CPUs and more only add memory) and a distant one (where
each request spends most of its time waiting for the round trip, and twice the
requests move nearly twice the bytes). :class:`AdaptiveLimit` climbs: after
each measured window it doubles the limit while the last doubling raised
throughput by at least ``gain``; the first doubling that did not pays for
itself is undone and the climb stops for the rest of the transfer.

A window skips the transfers that were already running when the limit changed
(they started under the old level, or during start-up) and then measures ``2 * limit``
completions, so each level is judged on transfers that ran at that level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio


@dataclass
class _Window:
    limit: int
    skip: int
    measure: int
    started: float | None = None
    bytes: int = 0
    seen: int = 0


@dataclass
class ClimbLog:
    """The levels tried and their throughput in bytes/s (for progress, tests and benchmarks)."""

    levels: list[tuple[int, float]] = field(default_factory=list)
    settled: int | None = None


class AdaptiveLimit:
    """A limit on parallel transfers that tunes itself by measured throughput.

    ``acquire`` returns a token that ``release`` gives back with the bytes that
    transfer moved. With ``initial == maximum`` the limit is fixed.
    """

    def __init__(
        self,
        initial: int,
        maximum: int,
        gain: float = 1.15,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= initial <= maximum:
            raise ValueError(f"need 1 <= initial ({initial}) <= maximum ({maximum})")
        self._limiter = anyio.CapacityLimiter(initial)
        self._maximum = maximum
        self._gain = gain
        self._clock = clock
        self.log = ClimbLog()
        self._window: _Window | None = None
        self._previous_rate = 0.0
        self._previous_level = initial
        if initial < maximum:
            # The first transfers also pay for start-up (connections, first reads): skipped.
            self._window = _Window(initial, skip=initial, measure=2 * initial)
        else:
            self.log.settled = initial

    @property
    def limit(self) -> int:
        """Transfers allowed at once right now."""
        return int(self._limiter.total_tokens)

    async def acquire(self) -> object:
        """Wait for a free slot; returns the token to release."""
        token = object()
        await self._limiter.acquire_on_behalf_of(token)
        if self._window is not None and self._window.started is None:
            self._window.started = self._clock()
        return token

    def release(self, token: object, moved: int) -> None:
        """Give back the slot of a transfer that moved ``moved`` bytes (0 if it failed)."""
        self._limiter.release_on_behalf_of(token)
        window = self._window
        if window is None or moved <= 0:
            return
        now = self._clock()
        if window.skip > 0:
            window.skip -= 1
            window.started = now
            return
        window.bytes += moved
        window.seen += 1
        if window.seen < window.measure:
            return
        assert window.started is not None
        rate = window.bytes / max(now - window.started, 1e-6)
        self.log.levels.append((window.limit, rate))
        self._decide(window.limit, rate)

    def _decide(self, level: int, rate: float) -> None:
        if self._previous_rate and rate < self._previous_rate * self._gain:
            self._settle(self._previous_level)  # the last doubling did not pay for itself
            return
        self._previous_rate, self._previous_level = rate, level
        if level >= self._maximum:
            self._settle(level)
            return
        nxt = min(level * 2, self._maximum)
        self._limiter.total_tokens = nxt
        self._window = _Window(nxt, skip=level, measure=2 * nxt)

    def _settle(self, level: int) -> None:
        self._limiter.total_tokens = level
        self.log.settled = level
        self._window = None
