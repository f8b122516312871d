"""What a remote counts as it works: requests, bytes, retries (for progress, benchmarks
and tests); shared by the HTTP and the embedded remote."""

from __future__ import annotations

from asyncart.client.retry import RetryStats


class Counters:
    """Requests made and bytes moved (for progress, benchmarks and tests)."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.retry = RetryStats()
