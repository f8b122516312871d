"""What ``Api`` reads hands back, as W&B's public API shapes it: collections, types,
projects and runs.

Each comes in two faces over one logic: the ``Async*`` class (returned by
``asyncart.aio.Api``) does the work; the sync class (returned by ``asyncart.Api``)
holds one and runs its coroutines through the portal. The data (names, counts,
aliases) is read when the object is made; listing artifacts asks the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import anyio

from asyncart.client.client import Client
from asyncart.client.remote import Remote
from asyncart.client.tasks import task_group
from asyncart.core.models import CollectionInfo, RunInfo, VersionInfo
from asyncart.errors import ArtifactNotFound, ConfigError
from asyncart.sdk import portal
from asyncart.sdk.artifact import BaseArtifact
from asyncart.sdk.run_fields import RunFields

A = TypeVar("A", bound=BaseArtifact)
T = TypeVar("T")

#: Manifests fetched at once when a listing builds its artifacts.
_FETCH_CONCURRENCY = 8


class Reader(Protocol[A]):
    """What these objects need of the ``AsyncApi`` that made them."""

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
    # ``tags`` on a version arrives with issue 17's "changing a logged version"; until then
    # no version has any.
    return [v for v in versions if wanted <= set(getattr(v, "tags", ()))]


# -- collections ------------------------------------------------------------------------


class CollectionData:
    """A collection's stored data: ``name``, ``type``, ``project``, ``aliases``..."""

    def __init__(self, info: CollectionInfo, versions: list[VersionInfo]) -> None:
        self.info = info
        self._versions = versions

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def type(self) -> str:
        return self.info.type

    @property
    def project(self) -> str:
        return self.info.project

    @property
    def version_count(self) -> int:
        return self.info.version_count

    @property
    def created_at(self) -> float:
        return self.info.created_at

    @property
    def updated_at(self) -> float:
        return self.info.updated_at

    @property
    def description(self) -> str | None:
        """None: asyncart keeps descriptions on versions, not yet on collections."""
        return None

    @property
    def aliases(self) -> list[str]:
        """Every alias a version of the collection holds, sorted."""
        return sorted({a for v in self._versions for a in v.aliases})

    def to_json(self) -> dict[str, Any]:
        return self.info.to_json()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.project}/{self.name} type={self.type!r}>"


class AsyncArtifactCollection(CollectionData, Generic[A]):
    """One artifact collection (``asyncart.aio.Api().artifact_collection(type, name)``)."""

    def __init__(self, reader: Reader[A], info: CollectionInfo, versions: list[VersionInfo]):
        super().__init__(info, versions)
        self._reader = reader

    @classmethod
    async def load(cls, reader: Reader[A], info: CollectionInfo) -> AsyncArtifactCollection[A]:
        async with reader.client.use() as remote:
            versions = await remote.list_versions(info.project, info.name)
        return cls(reader, info, versions)

    async def artifacts(
        self, per_page: int = 50, order: str | None = None, tags: Sequence[str] | None = None
    ) -> list[A]:
        """Its versions as artifacts, oldest first (or in ``order``), those with ``tags``.

        ``per_page`` is accepted for W&B's callers; the list comes whole.
        """
        check_per_page(per_page)
        async with self._reader.client.use() as remote:
            versions = await remote.list_versions(self.project, self.name)
        return await artifacts_of(self._reader, with_tags(ordered(versions, order), tags))

    async def versions(self, per_page: int = 50) -> list[A]:
        """The same as :meth:`artifacts` (W&B's older name)."""
        return await self.artifacts(per_page)


class ArtifactCollection(CollectionData):
    """One artifact collection (``asyncart.Api().artifact_collection(type, name)``)."""

    def __init__(self, inner: AsyncArtifactCollection[Any]) -> None:
        super().__init__(inner.info, inner._versions)
        self._async = inner

    def artifacts(
        self, per_page: int = 50, order: str | None = None, tags: Sequence[str] | None = None
    ) -> list[Any]:
        """Its versions as artifacts (see :meth:`AsyncArtifactCollection.artifacts`)."""
        return portal.call(self._async.artifacts, per_page, order, tags)

    def versions(self, per_page: int = 50) -> list[Any]:
        """The same as :meth:`artifacts`."""
        return portal.call(self._async.versions, per_page)


# -- types ------------------------------------------------------------------------------


class AsyncArtifactType(Generic[A]):
    """An artifact type of a project: ``name``, and its collections."""

    def __init__(self, reader: Reader[A], project: str, name: str) -> None:
        self._reader = reader
        self.project = project
        self.name = name

    async def collections(self, per_page: int = 50) -> list[AsyncArtifactCollection[A]]:
        """The collections of this type, by name."""
        check_per_page(per_page)
        return await collections_of(self._reader, self.project, self.name)

    async def collection(self, name: str) -> AsyncArtifactCollection[A]:
        """The collection ``name`` of this type (``ArtifactNotFound`` if there is none)."""
        return await collection_named(self._reader, self.project, self.name, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.project}/{self.name}>"


class ArtifactType:
    """An artifact type of a project (sync face of :class:`AsyncArtifactType`)."""

    def __init__(self, inner: AsyncArtifactType[Any]) -> None:
        self._async = inner
        self.project = inner.project
        self.name = inner.name

    def collections(self, per_page: int = 50) -> list[ArtifactCollection]:
        return [ArtifactCollection(c) for c in portal.call(self._async.collections, per_page)]

    def collection(self, name: str) -> ArtifactCollection:
        return ArtifactCollection(portal.call(self._async.collection, name))

    def __repr__(self) -> str:
        return f"<ArtifactType {self.project}/{self.name}>"


async def collection_infos(
    reader: Reader[Any], project: str, type_name: str | None
) -> list[CollectionInfo]:
    async with reader.client.use() as remote:
        infos = await remote.list_collections(project)
    return [c for c in infos if type_name is None or c.type == type_name]


async def collections_of(
    reader: Reader[A], project: str, type_name: str | None
) -> list[AsyncArtifactCollection[A]]:
    """The collections of ``project`` (of ``type_name`` only, if given), aliases loaded."""
    infos = await collection_infos(reader, project, type_name)
    return await gather_limited(
        [partial(AsyncArtifactCollection[A].load, reader, c) for c in infos]
    )


async def collection_named(
    reader: Reader[A], project: str, type_name: str | None, name: str
) -> AsyncArtifactCollection[A]:
    """The collection ``project/name``, checked to be of ``type_name`` if given.

    Raises:
        ArtifactNotFound: there is none (of that type).
    """
    infos = await collection_infos(reader, project, None)
    found = next((c for c in infos if c.name == name), None)
    if found is None:
        raise ArtifactNotFound(f"project {project!r} has no artifact collection {name!r}")
    if type_name is not None and found.type != type_name:
        raise ArtifactNotFound(
            f"project {project!r} has no {type_name!r} collection {name!r} "
            f"(its {name!r} is of type {found.type!r})"
        )
    return await AsyncArtifactCollection.load(reader, found)


# -- projects and runs ------------------------------------------------------------------


class AsyncProject(Generic[A]):
    """A project (``asyncart.aio.Api().project(name)``): its types and collections."""

    def __init__(self, reader: Reader[A], name: str) -> None:
        self._reader = reader
        self.name = name

    async def artifacts_types(self, per_page: int = 50) -> list[AsyncArtifactType[A]]:
        """The artifact types its collections have, by name."""
        check_per_page(per_page)
        infos = await collection_infos(self._reader, self.name, None)
        return [
            AsyncArtifactType(self._reader, self.name, t) for t in sorted({c.type for c in infos})
        ]

    async def collections(self, per_page: int = 50) -> list[AsyncArtifactCollection[A]]:
        """Its artifact collections, by name."""
        check_per_page(per_page)
        return await collections_of(self._reader, self.name, None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Project:
    """A project (sync face of :class:`AsyncProject`)."""

    def __init__(self, inner: AsyncProject[Any]) -> None:
        self._async = inner
        self.name = inner.name

    def artifacts_types(self, per_page: int = 50) -> list[ArtifactType]:
        return [ArtifactType(t) for t in portal.call(self._async.artifacts_types, per_page)]

    def collections(self, per_page: int = 50) -> list[ArtifactCollection]:
        return [ArtifactCollection(c) for c in portal.call(self._async.collections, per_page)]

    def __repr__(self) -> str:
        return f"<Project {self.name}>"


class RunData(RunFields):
    """A run's stored data: ``id``, ``project``, ``name``, ``job_type``, ``config``,
    ``group``, ``tags``, ``notes``, ``state``."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info

    @property
    def state(self) -> str:
        """``running``, ``finished``, ``failed`` or ``crashed``."""
        return self.info.status

    @property
    def tags(self) -> list[str]:  # type: ignore[override]
        """The run's tags: a list, as W&B's public ``Run.tags``."""
        return list(self.info.tags)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.project}/{self.id} {self.job_type!r}>"


class AsyncApiRun(RunData, Generic[A]):
    """A run as ``asyncart.aio.Api().run(path)`` reads it: what it logged and used."""

    def __init__(self, reader: Reader[A], info: RunInfo) -> None:
        super().__init__(info)
        self._reader = reader

    async def logged_artifacts(self, per_page: int = 100) -> list[A]:
        """The versions this run logged, as artifacts, in the order it logged them."""
        check_per_page(per_page)
        async with self._reader.client.use() as remote:
            versions = await remote.run_outputs(self.id)
        return await artifacts_of(self._reader, versions)

    async def used_artifacts(self, per_page: int = 100) -> list[A]:
        """The versions this run used, as artifacts, first use first."""
        check_per_page(per_page)
        async with self._reader.client.use() as remote:
            versions = await remote.run_inputs(self.id)
        return await artifacts_of(self._reader, versions)


class ApiRun(RunData):
    """A run as ``asyncart.Api().run(path)`` reads it (sync face of :class:`AsyncApiRun`)."""

    def __init__(self, inner: AsyncApiRun[Any]) -> None:
        super().__init__(inner.info)
        self._async = inner

    def logged_artifacts(self, per_page: int = 100) -> list[Any]:
        return portal.call(self._async.logged_artifacts, per_page)

    def used_artifacts(self, per_page: int = 100) -> list[Any]:
        return portal.call(self._async.used_artifacts, per_page)
