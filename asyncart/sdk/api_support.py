"""What the ``Api`` objects share: the reader they read through, bounded fetching of
many manifests, and W&B's listing arguments (``per_page``, ``order``, ``tags``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio

from asyncart.client.client import Client
from asyncart.client.remote import Remote
from asyncart.client.tasks import task_group
from asyncart.core.models import VersionInfo
from asyncart.errors import ConfigError

if TYPE_CHECKING:
    from asyncart.sdk.artifact import BaseArtifact

A = TypeVar("A", bound="BaseArtifact")
T = TypeVar("T")

#: Manifests fetched at once when a listing builds its artifacts.
_FETCH_CONCURRENCY = 8


class Reader(Protocol[A]):
    """What these objects need of the ``AsyncApi`` (or artifact) that made them."""

    client: Client
    artifact_class: type[A]


@dataclass
class ArtifactReader(Generic[A]):
    """A :class:`Reader` made from a logged artifact: its client, artifacts of its class."""

    client: Client
    artifact_class: type[A]


async def gather_limited(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``calls`` at most :data:`_FETCH_CONCURRENCY` at a time; results in call order."""
    results: list[Any] = [None] * len(calls)
    limit = anyio.Semaphore(_FETCH_CONCURRENCY)

    async def run(i: int) -> None:
        async with limit:
            results[i] = await calls[i]()

    async with task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(run, i)
    return results


async def artifacts_of(reader: Reader[A], versions: Sequence[VersionInfo]) -> list[A]:
    """Artifact objects (manifest loaded, nothing recorded as used) for ``versions``."""

    async def one(remote: Remote, info: VersionInfo) -> A:
        manifest = await remote.get_manifest(info.project, info.name, info.version)
        artifact = reader.artifact_class(info.name, info.type)
        artifact._bind(reader.client, info, manifest)
        return artifact

    async with reader.client.use() as remote:
        return await gather_limited([partial(one, remote, v) for v in versions])


def iso_time(epoch: float) -> str:
    """Epoch seconds as W&B's server writes times: ``2026-12-02T02:08:06`` (UTC)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def check_per_page(per_page: int) -> int:
    if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 1:
        raise ConfigError(f"per_page must be a positive integer, got {per_page!r}")
    return per_page


def ordered(versions: list[VersionInfo], order: str | None) -> list[VersionInfo]:
    """``versions`` (oldest first) in W&B's ``order``: ``[+|-]version_index`` or
    ``[+|-]created_at``; None keeps oldest first."""
    if order is None:
        return versions
    key = order.lstrip("+-")
    if key not in ("version_index", "created_at") or len(order) - len(key) > 1:
        raise ConfigError(f"order {order!r} is not one of [+|-]version_index, [+|-]created_at")
    field = "index" if key == "version_index" else "created_at"
    return sorted(
        versions, key=lambda v: (getattr(v, field), v.index), reverse=order.startswith("-")
    )


def with_tags(versions: list[VersionInfo], tags: Sequence[str] | None) -> list[VersionInfo]:
    """The versions holding every one of ``tags`` (all of them for None)."""
    if tags is None:
        return versions
    wanted = {tags} if isinstance(tags, str) else set(tags)
    return [v for v in versions if wanted <= set(v.tags)]
