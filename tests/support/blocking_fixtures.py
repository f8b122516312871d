"""The blocking-call fixtures, imported by ``tests/client/conftest.py`` and
``tests/server/conftest.py`` (see :mod:`tests.support.blocking`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import live_server
from tests.support.blocking import no_blocking_calls


@pytest.fixture(autouse=True, scope="package")
def servers_refuse_blocking_calls() -> Iterator[None]:
    """Every ``live_server`` of the suite refuses blocking calls on its event loop.

    Package-scoped, so it is in force before module-scoped servers start.
    """
    live_server.CHECK_BLOCKING = True
    try:
        yield
    finally:
        live_server.CHECK_BLOCKING = False


@pytest.fixture(autouse=True)
def no_blocking_calls_on_the_loop() -> Iterator[None]:
    """Fail the test if asyncart made a blocking call on a running event loop, even one
    whose ``BlockingError`` was caught."""
    with no_blocking_calls() as found:
        yield
        calls = list(found)
    assert not calls, "blocking call(s) on the event loop:\n" + "\n".join(calls)
