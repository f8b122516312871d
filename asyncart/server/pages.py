"""Pagination of list answers: ``?limit=N&cursor=C``, and ``next`` in the answer.

A page holds at most ``limit`` items (default ``LIST_PAGE``, at most ``MAX_LIST_PAGE``);
``next`` is the cursor of the following page, or null after the last one. Cursors are
opaque to clients: the server makes them from the last item's position (a version
index, a name) or, for lists without a natural key, an offset (docs/protocol.md §3.6).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.core.names import validate_name
from asyncart.errors import ConfigError

T = TypeVar("T")
_NUMBER = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class PageRequest:
    """The ``limit`` and ``cursor`` query parameters of a list request."""

    limit: int
    cursor: str | None

    def number(self) -> int | None:
        """The cursor as a non-negative integer (a version index or an offset)."""
        if self.cursor is None:
            return None
        if not _NUMBER.fullmatch(self.cursor):
            raise ConfigError(f"cursor {self.cursor[:80]!r} is not one this list gave out")
        return int(self.cursor)

    def name(self) -> str | None:
        """The cursor as a name (of the last item of the previous page)."""
        if self.cursor is None:
            return None
        try:
            return validate_name(self.cursor, what="cursor")
        except ConfigError:
            raise ConfigError(
                f"cursor {self.cursor[:80]!r} is not one this list gave out"
            ) from None


def page_request(request: web.Request) -> PageRequest:
    """Parse ``?limit=`` (1..MAX_LIST_PAGE) and ``?cursor=``; 400 when malformed."""
    text = request.query.get("limit")
    limit = P.LIST_PAGE
    if text is not None:
        if not _NUMBER.fullmatch(text) or not 1 <= int(text) <= P.MAX_LIST_PAGE:
            raise ConfigError(
                f"query parameter 'limit' must be an integer from 1 to {P.MAX_LIST_PAGE}"
            )
        limit = int(text)
    cursor = request.query.get("cursor")
    if cursor is not None and not cursor:
        raise ConfigError("query parameter 'cursor' is empty; leave it out for the first page")
    return PageRequest(limit, cursor)


def by_offset(items: Sequence[T], page: PageRequest) -> tuple[Sequence[T], str | None]:
    """A page of an ordered list without a key: the cursor is the next offset."""
    start = page.number() or 0
    end = start + page.limit
    return items[start:end], (str(end) if end < len(items) else None)


def by_name(
    items: Sequence[T], page: PageRequest, name: Callable[[T], str]
) -> tuple[Sequence[T], str | None]:
    """A page of a list sorted by name (code point order, which is UTF-8 byte order)."""
    after = page.name()
    rest = [i for i in items if after is None or name(i) > after]
    chosen = rest[: page.limit]
    return chosen, (name(chosen[-1]) if len(rest) > page.limit else None)


def answer(key: str, items: list[Any], next_cursor: str | None) -> web.Response:
    """``{key: items, "next": cursor}``."""
    return web.json_response({key: items, "next": next_cursor})
