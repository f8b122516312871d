"""What a handler reads from its request, checked: path parameters, query values, the
JSON body, and the repository as the request's caller may use it.

Every value is checked before a handler uses it, so a bad name or number is a 400 with
a message naming the parameter, never a failure deeper down.
"""

from __future__ import annotations

import re

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.core.artifact_uris import VERSION_ID_RE
from asyncart.core.names import validate_name
from asyncart.errors import ConfigError
from asyncart.repo.scoped import ScopedRepository
from asyncart.server.auth import principal_of
from asyncart.server.keys import AUDIT, PARSER, REPO, REQUEST_ID
from asyncart.server.schemas import B

_RUN_ID_RE = re.compile(r"[0-9a-f]{8,64}")
_PATH_PARAMS = {
    "project": "project name",
    "name": "artifact name",
    "ref": "version or alias",
    "alias": "alias",
}


async def json_body(request: web.Request, kind: type[B], limit: int = P.MAX_SMALL_BODY) -> B:
    """The JSON body as ``kind`` (docs/protocol.md §2 JSON, §3.9 limits)."""
    return await request.app[PARSER].body(request, kind, limit)


def checked_name(value: str, what: str) -> str:
    """A project/artifact/type name or ref from the request; 400 ``invalid_name`` if bad."""
    return validate_name(value, what=what)


def checked_run_id(value: str | None, what: str = "run id") -> str | None:
    """``value`` if it is None or a run id (8-64 lowercase hex characters); else 400."""
    if value is not None and not _RUN_ID_RE.fullmatch(value):
        raise ConfigError(f"{what} {value[:80]!r} is not 8-64 lowercase hex characters")
    return value


def path_param(request: web.Request, key: str) -> str:
    """A path parameter, checked: names by the naming rules, run ids by their format."""
    value = request.match_info[key]
    if key == "run_id":
        checked_run_id(value)
    elif key == "version_id" and not VERSION_ID_RE.fullmatch(value):
        raise ConfigError(f"version id {value!r} must be 24 lowercase hex characters")
    elif key in _PATH_PARAMS:
        checked_name(value, _PATH_PARAMS[key])
    return value


def type_query(request: web.Request) -> str | None:
    """The ``?type=`` filter, a checked name, if given."""
    value = request.query.get("type")
    return None if value is None else checked_name(value, "type")


def project_query(request: web.Request) -> str | None:
    """The ``?project=`` a pack upload is for, a checked name, if given."""
    value = request.query.get(P.PROJECT_PARAM)
    return None if value is None else checked_name(value, "project name")


def flag_query(request: web.Request, key: str) -> bool:
    """A ``?key=true|false`` flag (false when absent)."""
    value = request.query.get(key, "false")
    value = value.lower() if value.isascii() else value
    if value not in ("true", "false"):
        raise ConfigError(f"query parameter {key!r} must be 'true' or 'false', not {value!r}")
    return value == "true"


def int_query(request: web.Request, key: str, default: int, low: int, high: int) -> int:
    """A ``?key=N`` integer from ``low`` to ``high`` (``default`` when absent)."""
    text = request.query.get(key)
    if text is None:
        return default
    # ASCII digits only: str.isdigit() and int() also take superscript, fullwidth, etc.
    if not (text.isascii() and text.isdigit() and len(text) <= 20) or not (
        low <= int(text) <= high
    ):
        raise ConfigError(f"query parameter {key!r} must be an integer from {low} to {high}")
    return int(text)


def scoped_repo(request: web.Request) -> ScopedRepository:
    """The repository as the request's caller may use it."""
    return ScopedRepository(
        request.app[REPO], principal_of(request), request.app[AUDIT], request.get(REQUEST_ID)
    )
