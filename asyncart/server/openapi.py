"""The OpenAPI 3 description of the HTTP API, shipped as package data (``openapi.json``).

The file is the contract in machine-readable form (docs/protocol.md is the prose);
the server serves it verbatim at ``GET /openapi.json`` and the test suite fuzzes
the running server against it (tests/server/test_openapi_fuzz.py).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

SPEC_FILE = "openapi.json"


@lru_cache(maxsize=1)
def openapi_bytes() -> bytes:
    """The spec file's bytes, as shipped in the ``asyncart.server`` package."""
    return resources.files("asyncart.server").joinpath(SPEC_FILE).read_bytes()


def openapi_spec() -> dict[str, Any]:
    """The spec, decoded."""
    spec: dict[str, Any] = json.loads(openapi_bytes())
    return spec
