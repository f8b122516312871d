"""The error tree: its drawing is the truth, and one rule maps an error answer to a class."""

from __future__ import annotations

import inspect
import re

import pytest

from asyncart import errors
from asyncart.errors import (
    AsyncartError,
    AuthError,
    ChunkMissing,
    ConfigError,
    ConflictError,
    DirectTransferError,
    DiskFullError,
    NotFoundError,
    PermissionDenied,
    QuotaExceeded,
    ServerError,
    ServiceUnavailable,
    TypeConflict,
    VersionNotFound,
    error_for_answer,
)

# "    │   ├── ConnectError(ConnectionError)   comment": the glyph's column gives the depth.
_DRAWN = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)(?:\((?P<mixins>[\w, ]+)\))?")


def _drawing() -> list[tuple[str, str, tuple[str, ...]]]:
    """(class, drawn parent, drawn builtin mixins) for every class in the docstring's tree."""
    doc = errors.__doc__ or ""
    block = doc.split("::", 1)[1].strip("\n").split("\n\n", 1)[0]
    lines = block.splitlines()
    assert lines[0].strip() == "AsyncartError"
    parents = ["AsyncartError"]
    drawn = []
    for line in lines[1:]:
        match = _DRAWN.match(line[4:])  # the block is indented four spaces
        if match is None:
            continue  # a continuation line of a comment
        depth = len(match["indent"]) // 4
        del parents[depth + 1 :]
        mixins = tuple(m.strip() for m in (match["mixins"] or "").split(",") if m.strip())
        drawn.append((match["name"], parents[depth], mixins))
        parents.append(match["name"])
    return drawn


def _defined() -> dict[str, type[AsyncartError]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, AsyncartError)
        and cls is not AsyncartError
        and cls.__module__ == errors.__name__
    }


def test_the_drawing_lists_exactly_the_classes_defined() -> None:
    names = [name for name, _, _ in _drawing()]
    assert len(names) == len(set(names)), "a class is drawn twice"
    assert sorted(names) == sorted(_defined())


def test_the_drawing_shows_each_class_under_its_base_with_its_builtin_mixins() -> None:
    defined = _defined()
    for name, parent, mixins in _drawing():
        cls = defined[name]
        ours = [b.__name__ for b in cls.__bases__ if issubclass(b, AsyncartError)]
        builtins = tuple(b.__name__ for b in cls.__bases__ if not issubclass(b, AsyncartError))
        assert ours == [parent], name
        assert builtins == mixins, name


ANSWERS = [
    # (status, code, object_store) -> class
    (400, "bad_request", False, ConfigError),
    (404, "version_not_found", False, VersionNotFound),
    (404, "not_found", False, NotFoundError),
    (409, "chunk_missing", False, ChunkMissing),
    (409, "type_conflict", False, TypeConflict),  # a ValueError, as W&B's callers catch it
    (409, "conflict", False, ConflictError),
    (403, "forbidden", False, PermissionDenied),
    (403, "quota_exceeded", False, QuotaExceeded),  # final: not retried
    (403, "something_else", False, AuthError),
    (401, "unauthenticated", False, AuthError),
    (401, "not_found", False, AuthError),  # a 401 is about the key, whatever the code says
    (418, "teapot", False, ServerError),
    (404, "http_error", False, ServerError),  # no error record: only the status
    (429, "slow_down", False, ServiceUnavailable),
    (500, "internal", False, ServiceUnavailable),
    (503, "not_found", False, ServiceUnavailable),  # 5xx wins over a code
    (507, "disk_full", False, DiskFullError),  # final, not retried
    (507, "insufficient_storage", False, ServiceUnavailable),
    (403, "AccessDenied", True, DirectTransferError),
    (401, "http_error", True, DirectTransferError),
    (404, "not_found", True, DirectTransferError),  # a store's codes are not ours
    (503, "SlowDown", True, ServiceUnavailable),
    (507, "disk_full", True, ServiceUnavailable),
]


@pytest.mark.parametrize(("status", "code", "object_store", "expected"), ANSWERS)
def test_one_rule_maps_an_error_answer_to_its_class(
    status: int, code: str, object_store: bool, expected: type[AsyncartError]
) -> None:
    exc = error_for_answer(
        status, "it failed", code=code, request_id="r1", url="http://h/x", object_store=object_store
    )
    assert type(exc) is expected
    if isinstance(exc, ServerError):
        assert (exc.status, exc.code, exc.request_id, exc.url) == (status, code, "r1", "http://h/x")


def test_a_retryable_answer_names_the_url_and_keeps_retry_after() -> None:
    exc = error_for_answer(503, "busy", code="internal", url="http://h/x", retry_after=2.5)
    assert isinstance(exc, ServiceUnavailable)
    assert str(exc) == "http://h/x: busy"
    assert exc.retry_after == 2.5
