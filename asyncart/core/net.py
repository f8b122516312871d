"""Network addresses both sides reason about: which hosts only accept local connections.

The server refuses to serve a store without users on anything else
(``asyncart.server.auth.check_bind``); the client refuses to send an API key in clear
text to anything else (``asyncart.client.credentials``).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts local connections.

    ``127.0.0.0/8``, ``::1`` (with or without brackets) and ``localhost`` are loopback;
    any other name is not, since it may resolve to anything.
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: treat as exposed
