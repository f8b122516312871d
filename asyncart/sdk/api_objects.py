"""What ``Api`` reads hands back, as W&B's public API shapes it: types, projects and
runs (collections: ``collections.py``).

Each comes in two faces over one logic: the ``Async*`` class (returned by
``asyncart.aio.Api``) does the work; the sync class (returned by ``asyncart.Api``)
holds one and runs its coroutines through the portal. The data (names, counts,
aliases) is read when the object is made; listing artifacts asks the store.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from asyncart.core.models import RunInfo
from asyncart.sdk import portal
from asyncart.sdk.api_support import Reader, artifacts_of, check_per_page
from asyncart.sdk.artifact import BaseArtifact
from asyncart.sdk.collections import (
    ArtifactCollection,
    AsyncArtifactCollection,
    collection_infos,
    collection_named,
    collections_of,
)
from asyncart.sdk.deprecated import warn_use_as
from asyncart.sdk.run_fields import RunFields
from asyncart.sdk.run_records import log_stored, use_stored

A = TypeVar("A", bound=BaseArtifact)


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
    def config(self) -> dict[str, Any]:
        """The stored config: artifacts in it as their references,
        ``{"_type": "artifactVersion", "id": ..., ...}`` (W&B's ``Api().run(path).config``)."""
        return self.info.config

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
    """A run as ``asyncart.aio.Api().run(path)`` reads it: what it logged and used; stored
    versions may still be recorded as its inputs and outputs (``run_records.py``)."""

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

    async def use_artifact(self, artifact: A, use_as: str | None = None) -> A:
        """Record the stored version ``artifact`` (from ``Api().artifact(name)``) as an
        input of this run, finished or not; returns it. ``use_as`` (W&B's label for its
        launch feature) is accepted and not stored, with a ``DeprecationWarning``.

        Raises:
            ConfigError: a draft, or a name rather than an artifact.
        """
        warn_use_as("run.use_artifact", use_as)
        return await use_stored(self._reader.client, self.info, artifact)

    async def log_artifact(
        self,
        artifact: A,
        aliases: list[str] | str | None = None,
        tags: list[str] | str | None = None,
    ) -> A:
        """Record the stored version ``artifact`` as an output of this run, in the run's
        project (never ``ASYNCART_PROJECT``'s): moves ``latest`` and ``aliases`` onto it,
        gives it ``tags``; returns it as it is now.

        Raises:
            ConfigError: a draft, a name, or a version of another project.
        """
        return await log_stored(self._reader.client, self.info, artifact, aliases, tags)


class ApiRun(RunData):
    """A run as ``asyncart.Api().run(path)`` reads it (sync face of :class:`AsyncApiRun`)."""

    def __init__(self, inner: AsyncApiRun[Any]) -> None:
        super().__init__(inner.info)
        self._async = inner

    def logged_artifacts(self, per_page: int = 100) -> list[Any]:
        return portal.call(self._async.logged_artifacts, per_page)

    def used_artifacts(self, per_page: int = 100) -> list[Any]:
        return portal.call(self._async.used_artifacts, per_page)

    def use_artifact(self, artifact: Any, use_as: str | None = None) -> Any:
        """Record a stored version as this run's input (see :meth:`AsyncApiRun.use_artifact`)."""
        warn_use_as("run.use_artifact", use_as)
        return portal.call(self._async.use_artifact, artifact)

    def log_artifact(
        self,
        artifact: Any,
        aliases: list[str] | str | None = None,
        tags: list[str] | str | None = None,
    ) -> Any:
        """Record a stored version as this run's output (see :meth:`AsyncApiRun.log_artifact`)."""
        return portal.call(self._async.log_artifact, artifact, aliases, tags)
