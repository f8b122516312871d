"""The adaptive transfer limit, driven by a simulated link with a known throughput curve."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import pytest

from asyncart.client.concurrency import AdaptiveLimit
from asyncart.config import Settings
from asyncart.errors import ConfigError


async def _simulate(
    initial: int, maximum: int, rate_of: Callable[[int], float], transfers: int = 600
) -> AdaptiveLimit:
    """Run ``transfers`` transfers of 8 units; ``rate_of(n)`` is the total rate with n running."""
    now = [0.0]
    limit = AdaptiveLimit(initial, maximum, clock=lambda: now[0])
    running: deque[object] = deque()
    for _ in range(transfers):
        while len(running) < limit.limit:
            running.append(await limit.acquire())
        now[0] += 8 / rate_of(len(running))  # the next completion, at the current total rate
        limit.release(running.popleft(), 8)
    return limit


async def test_a_cpu_bound_link_keeps_the_starting_level() -> None:
    limit = await _simulate(4, 16, lambda n: 1000.0)
    assert limit.log.settled == 4
    assert [level for level, _ in limit.log.levels] == [4, 8]


async def test_a_latency_bound_link_climbs_to_the_maximum() -> None:
    limit = await _simulate(4, 32, lambda n: 100.0 * n)
    assert limit.log.settled == 32
    assert [level for level, _ in limit.log.levels] == [4, 8, 16, 32]


async def test_the_climb_stops_at_the_knee_of_the_curve() -> None:
    limit = await _simulate(4, 64, lambda n: 100.0 * min(n, 8))
    assert limit.log.settled == 8
    assert limit.limit == 8


async def test_a_small_gain_is_not_worth_doubling() -> None:
    limit = await _simulate(4, 16, lambda n: 1000.0 * (1.1 if n >= 8 else 1.0))
    assert limit.log.settled == 4


async def test_a_maximum_that_is_not_a_doubling_is_reached_and_undone_correctly() -> None:
    limit = await _simulate(4, 12, lambda n: 100.0 * min(n, 8))
    assert [level for level, _ in limit.log.levels] == [4, 8, 12]
    assert limit.log.settled == 8


async def test_equal_initial_and_maximum_is_a_fixed_limit() -> None:
    limit = await _simulate(6, 6, lambda n: 100.0 * n)
    assert limit.log.settled == 6 and limit.log.levels == []


async def test_failed_transfers_are_not_measured() -> None:
    limit = AdaptiveLimit(2, 8, clock=lambda: 0.0)
    for _ in range(10):
        limit.release(await limit.acquire(), 0)
    assert limit.log.levels == [] and limit.limit == 2


def test_settings_bound_the_ceiling() -> None:
    assert Settings().concurrency_ceiling == 16
    assert Settings(concurrency=32).concurrency_ceiling == 32
    assert Settings(concurrency=3, max_concurrency=3).concurrency_ceiling == 3
    with pytest.raises(ConfigError, match="max concurrency"):
        Settings(concurrency=8, max_concurrency=4)
    env = {"ASYNCART_CONCURRENCY": "2", "ASYNCART_MAX_CONCURRENCY": "5"}
    assert Settings.from_env(env).concurrency_ceiling == 5
