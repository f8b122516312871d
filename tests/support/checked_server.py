"""``python tests/support/checked_server.py server ...``: ``asyncart server`` with every
blocking call on its event loop refused and announced (:mod:`tests.support.blocking`).

``live_server`` starts this instead of ``python -m asyncart`` under the client and server
suites, and fails the test if the server's output holds ``blocking.MARKER``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file: the checkout (tests/ and the asyncart under test) is two levels up.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asyncart.cli.main import main
from tests.support.blocking import no_blocking_calls

if __name__ == "__main__":  # not when a spawned worker process imports this file
    with no_blocking_calls(announce=True):
        main()
