"""Every test here fails on a blocking call on the event loop, in this process or in a
``live_server`` (``tests/support/blocking.py``)."""

from tests.support.blocking_fixtures import (  # noqa: F401 (fixtures, found by name)
    no_blocking_calls_on_the_loop,
    servers_refuse_blocking_calls,
)
