"""schemathesis hooks for the fuzz run (loaded by the CLI through ``SCHEMATHESIS_HOOKS``).

A pack upload body (``application/x-asyncart-pack``) is raw bytes: send generated
binary values as they are, the way ``application/octet-stream`` is sent.

Every :data:`EVERY`-th request also gets hostile values in what the spec declares as
query parameters and headers, values the spec's schemas would never generate: Unicode
digits (superscript, Arabic-Indic, fullwidth) and other numbers ``int()`` or ``str.isdigit()``
take but HTTP does not, over-long numbers, look-alike flags, odd ``Range`` forms, and
non-ASCII ``Authorization`` schemes. The answer must still be documented and not a 5xx.
"""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis

from asyncart.core.protocol import PACK_MEDIA_TYPE

schemathesis.serializer.alias(PACK_MEDIA_TYPE, "application/octet-stream")

EVERY = 3
NUMBERS = [
    "\u00b2",
    "\u0663",
    "\uff13",
    "1\u00b2",
    "\u00b9\u2070",
    "\u0661\u0660",
    "\U0001d7d9",
    "99999999999999999999999",
    " 1",
    "1 ",
    "+1",
    "-1",
    "1_0",
    "0x10",
    "1e3",
    "",
    "0",
]
FLAGS = ["\uff54rue", "TRUE", "tru\u0435", "\u0130", "true\u200b", "1", "", "yes"]
TEXT = ["\u202e", "\ufeff", "\u00b2", "a" * 300, "%00", ""]
#: Header values must be Latin-1 for the HTTP client: Unicode digits of Latin-1 only.
RANGES = [
    "bytes=\u00b2-",
    "bytes=0-\u00b3",
    "bytes=\u00b9-\u00b2",
    "bytes=-5",
    "bytes=0-0,1-1",
    "bytes=5-1",
    "bytes= 0-1",
    "bytes=+0-1",
    "bytes=0x0-1",
    "items=0-1",
    "bytes=",
    "bytes=-",
]
REQUEST_IDS = ["\u00b2", "a" * 129, "a b", "\u00e9", "", "-"]
AUTHORIZATIONS = [
    "B\u00e9arer x",
    "BEARER\xa0acart_x",
    "Bearer ",
    "Bearer \u00b2",
    "acart_x",
    "Basic \u00b2",
]
_calls = itertools.count()
_pick = itertools.count()


def _hostile(choices: list[str]) -> str:
    return choices[next(_pick) % len(choices)]


def _query_value(name: str, schema: dict[str, Any]) -> str:
    if schema.get("type") == "integer":
        return _hostile(NUMBERS)
    if schema.get("enum") == ["true", "false"]:
        return _hostile(FLAGS)
    return _hostile(TEXT)


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Give every EVERY-th request hostile query values and headers (see the module doc)."""
    if next(_calls) % EVERY:
        return
    for param in case.operation.query:
        case.query = dict(case.query or {})
        case.query[param.name] = _query_value(param.name, param.definition.get("schema", {}))
    headers = dict(case.headers or {})
    names = {param.name.lower() for param in case.operation.headers}
    if "range" in names:
        headers["Range"] = _hostile(RANGES)
    headers["X-Request-Id"] = _hostile(REQUEST_IDS)
    if next(_pick) % 4 == 0:
        headers["Authorization"] = _hostile(AUTHORIZATIONS)
    case.headers = headers
