"""What a client knows about moving pack bytes straight to and from the server's object
store (presigned URLs, docs/protocol.md §3.10): on or off per direction, and the URLs got."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("asyncart.client")


@dataclass
class DirectTransfer:
    """What this client knows about transferring straight to the server's object store.

    Both directions start enabled (unless ``ASYNCART_DIRECT_TRANSFER=0``) and switch off
    for the rest of the session once a ``missing``/``locate`` answer says the server does
    not offer them, or the first time the object store cannot be used from here (the
    server path always works).
    """

    enabled: bool
    uploads: bool = True
    downloads: bool = True
    urls: dict[str, str] = field(default_factory=dict)  # pack id -> presigned GET URL

    def __post_init__(self) -> None:
        self.uploads = self.downloads = self.enabled

    def offered(self, direct: bool) -> None:
        """Learn from a ``missing``/``locate`` answer whether the server offers direct
        transfer (``"direct": true``; absent from older servers: not offered)."""
        if not direct:
            self.uploads = self.downloads = False

    def give_up(self, why: str) -> None:
        if self.uploads or self.downloads:
            log.warning("direct transfer switched off, using the server instead: %s", why)
        self.uploads = self.downloads = False
        self.urls.clear()
