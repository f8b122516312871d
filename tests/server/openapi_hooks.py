"""schemathesis hooks for the fuzz run (loaded by the CLI through ``SCHEMATHESIS_HOOKS``).

A pack upload body (``application/x-asyncart-pack``) is raw bytes: send generated
binary values as they are, the way ``application/octet-stream`` is sent.
"""

from __future__ import annotations

import schemathesis

from asyncart.core.protocol import PACK_MEDIA_TYPE

schemathesis.serializer.alias(PACK_MEDIA_TYPE, "application/octet-stream")
