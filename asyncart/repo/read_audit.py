"""Which cross-project pack reads have been audited lately (one server process).

A restricted caller may read a range of a pack that also holds chunks of projects it
may not read: dedup keeps the first stored copy of a chunk, wherever it lies. The bytes
it gets are its own to read (the range is checked chunk by chunk), but the operator and
the other project's admins should be able to see that it happened, so such a read is
audited as ``pack_read``. One pull reads many ranges of a pack; :class:`RecentPackReads`
keeps the audit log to one event per user and pack per window, and remembers for a
while which packs a user reads wholly within what it may see (no audit, no query).
"""

from __future__ import annotations

import time
from collections import OrderedDict

WINDOW_SECONDS = 3600.0  # one pack_read event per user and pack within this window
CAPACITY = 100_000  # (user, pack) pairs remembered; the oldest are forgotten first


class RecentPackReads:
    """A bounded, time-limited memory of ``(user, pack)`` pairs already decided."""

    def __init__(self, window: float = WINDOW_SECONDS, capacity: int = CAPACITY) -> None:
        self._window = window
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen_recently(self, user: str, pack: str) -> bool:
        """Whether this pair was decided within the window (refreshes nothing)."""
        at = self._seen.get((user, pack))
        if at is None:
            return False
        if time.monotonic() - at > self._window:
            del self._seen[(user, pack)]
            return False
        return True

    def remember(self, user: str, pack: str) -> None:
        """Record that the pair was decided now (audited, or found not to need it)."""
        key = (user, pack)
        self._seen[key] = time.monotonic()
        self._seen.move_to_end(key)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
