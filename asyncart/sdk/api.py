"""Reading the store without a run: ``Api().artifact('project/name:alias')`` and listings.

W&B's read side of ``wandb.Api``: ``artifacts``, ``artifact_collection(s)``,
``artifact_type(s)``, ``artifact_exists``, ``run(path)``, ``project(name)``; what
they return is in ``api_objects.py`` and ``collections.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Generic, TypeVar, overload

from asyncart.client.client import Client
from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_artifact_ref, validate_name
from asyncart.core.origins import VersionOrigin
from asyncart.core.storage import ProjectStorage
from asyncart.errors import NotFoundError, RunNotFound
from asyncart.sdk import portal
from asyncart.sdk.api_objects import (
    ApiRun,
    ArtifactType,
    AsyncApiRun,
    AsyncArtifactType,
    AsyncProject,
    Project,
)
from asyncart.sdk.api_support import check_per_page
from asyncart.sdk.artifact import Artifact, AsyncArtifact, BaseArtifact
from asyncart.sdk.async_run import fetch_artifact, resolve_settings
from asyncart.sdk.collections import (
    ArtifactCollection,
    AsyncArtifactCollection,
    collection_infos,
    collection_named,
    collections_of,
)
from asyncart.sdk.lineage import LineageGraph, build_lineage
from asyncart.sdk.shared import shared_client

A = TypeVar("A", bound=BaseArtifact)


class AsyncApi(Generic[A]):
    """Access to artifacts, versions and collections without a run (async)."""

    def __init__(
        self,
        url: str | None = None,
        project: str | None = None,
        *,
        artifact_class: type[Any] = AsyncArtifact,
        client: Client | None = None,
    ) -> None:
        self.client = client or Client(resolve_settings(url, project))
        self.artifact_class: type[A] = artifact_class

    async def __aenter__(self) -> AsyncApi[A]:
        await self.client.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def default_project(self) -> str:
        """The project names without one refer to (``ASYNCART_PROJECT``, or ``Api(project=)``)."""
        return self.client.settings.project

    async def artifact(self, name: str, type: str | None = None) -> A:
        """Fetch ``[project/]name[:version|alias]`` (a bare name means ``:latest``)."""
        return await fetch_artifact(
            self.client, self.artifact_class, name, type=type, default_project=self.default_project
        )

    async def artifacts(
        self,
        type_name: str,
        name: str,
        per_page: int = 50,
        tags: Sequence[str] | None = None,
        order: str | None = None,
    ) -> list[A]:
        """Every version of the ``type_name`` collection ``[project/]name``, as artifacts.

        Oldest first, or in ``order`` (``[+|-]version_index``, ``[+|-]created_at``);
        only those holding every one of ``tags`` if given. ``per_page`` is accepted
        for W&B's callers: the list comes whole.

        Raises:
            ArtifactNotFound: no collection of that name and type.
        """
        collection = await self.artifact_collection(type_name, name)
        return await collection.artifacts(per_page, order, tags)

    @overload
    async def artifact_versions(self, type_name: str) -> list[VersionInfo]: ...
    @overload
    async def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> list[A]: ...
    async def artifact_versions(
        self, type_name: str, name: str | None = None, per_page: int = 50
    ) -> list[A] | list[VersionInfo]:
        """W&B's ``artifact_versions(type_name, name)``: the same as :meth:`artifacts`.

        With one argument, asyncart's older form: ``artifact_versions('[project/]name')``,
        the ``VersionInfo`` of every version, oldest first.
        """
        if name is not None:
            return await self.artifacts(type_name, name, per_page)
        project, collection = self._split(type_name, None)
        async with self.client.use() as remote:
            return await remote.list_versions(project, collection)

    async def artifact_type(
        self, type_name: str, project: str | None = None
    ) -> AsyncArtifactType[A]:
        """The artifact type ``type_name`` of ``project``.

        Raises:
            NotFoundError: no collection of the project has that type.
        """
        project = self._project(project)
        if not await collection_infos(self, project, type_name):
            raise NotFoundError(f"project {project!r} has no artifacts of type {type_name!r}")
        return AsyncArtifactType(self, project, type_name)

    async def artifact_types(self, project: str | None = None) -> list[AsyncArtifactType[A]]:
        """The artifact types of ``project``, by name."""
        return await AsyncProject(self, self._project(project)).artifacts_types()

    async def artifact_collection(self, type_name: str, name: str) -> AsyncArtifactCollection[A]:
        """The ``type_name`` collection ``[project/]name``: ``.aliases``, ``.artifacts()``...

        Raises:
            ArtifactNotFound: there is none of that name and type.
        """
        project, collection = self._split(name, None)
        return await collection_named(self, project, type_name, collection)

    async def artifact_collections(
        self, project_name: str | None = None, type_name: str | None = None, per_page: int = 50
    ) -> list[AsyncArtifactCollection[A]]:
        """The artifact collections of a project (of ``type_name`` only, if given), by name."""
        check_per_page(per_page)
        return await collections_of(self, self._project(project_name), type_name)

    async def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether the version ``[project/]name[:version|alias]`` exists (of ``type``)."""
        ref = parse_artifact_ref(name)
        async with self.client.use() as remote:
            try:
                info = await remote.get_version(
                    ref.project or self.default_project, ref.name, ref.ref
                )
            except NotFoundError:
                return False
        return type is None or info.type == type

    async def artifact_collection_exists(self, name: str, type: str) -> bool:
        """Whether the collection ``[project/]name`` exists with type ``type``."""
        project, collection = self._split(name, None)
        infos = await collection_infos(self, project, type)
        return any(c.name == collection for c in infos)

    async def run(self, path: str) -> AsyncApiRun[A]:
        """The run ``[[entity/]project/]run_id``: ``.logged_artifacts()``, ``.used_artifacts()``.

        Raises:
            RunNotFound: no such run (in that project, if one is named).
        """
        parts = path.split("/")  # [entity/][project/]run_id: an entity is not checked
        run_id, project = parts[-1], parts[-2] if len(parts) > 1 else ""
        async with self.client.use() as remote:
            info = await remote.get_run(run_id)
        if project and info.project != project:
            raise RunNotFound.for_id(run_id)
        return AsyncApiRun(self, info)

    def project(self, name: str | None = None) -> AsyncProject[A]:
        """The project ``name`` (default: :attr:`default_project`): its types, collections."""
        return AsyncProject(self, self._project(name))

    async def projects(self) -> list[str]:
        async with self.client.use() as remote:
            return await remote.list_projects()

    async def storage(self, project: str | None = None) -> ProjectStorage:
        """What the versions of ``project`` (default: :attr:`default_project`) cost, as a
        :class:`~asyncart.core.storage.ProjectStorage`: per version its logical ``size``,
        ``added_bytes`` (what logging it added) and ``exclusive_bytes`` (what deleting it,
        then gc, would free); per collection and for the project the same totals and
        ``stored_bytes`` (after dedup). From the store's index: no pack or manifest read.
        ``scope`` is ``project`` when the caller may not read every project of a server
        (then "no other version" means none of this project's). ``quota_bytes`` and
        ``usage_bytes`` are the project's quota and what counts against it, None without
        a quota (docs/quotas.md; from a server, one more request).
        """
        name = self._project(project)
        async with self.client.use() as remote:
            found = await remote.storage(name)
            return found.with_quota(await remote.quota(name))

    async def origins(self, name: str) -> list[VersionOrigin]:
        """Where the versions of ``[project/]name`` came from when ``asyncart sync`` copied
        them (``core/origins.py``): one record per version and source version, by
        version; ``[]`` for versions logged here, and from a server older than the
        origin routes."""
        ref = parse_artifact_ref(name)
        async with self.client.use() as remote:
            found = await remote.list_origins(ref.project or self.default_project, ref.name)
            return found or []

    async def lineage(self, name: str, depth: int | None = None) -> LineageGraph:
        """The runs and versions upstream and downstream of ``[project/]name[:ref]``."""
        ref = parse_artifact_ref(name)
        async with self.client.use() as remote:
            return await build_lineage(
                remote, ref.project or self.default_project, ref.name, ref.ref, depth=depth
            )

    async def delete_artifact(
        self, name: str, project: str | None = None, *, delete_aliases: bool = False
    ) -> list[VersionInfo]:
        """Delete every version of ``[project/]name``; returns them as they were.

        Refused (ConflictError) if a version holds aliases other than ``latest``, unless
        ``delete_aliases=True``. Logging the name again continues the version numbers.
        """
        project, name = self._split(name, project)
        async with self.client.use() as remote:
            return await remote.delete_collection(project, name, delete_aliases)

    async def delete_version(self, name: str, *, delete_aliases: bool = False) -> VersionInfo:
        """Delete the version ``[project/]name:version|alias``; returns it as it was.

        Refused (ConflictError) if it holds aliases other than ``latest``, unless
        ``delete_aliases=True``; ``latest`` moves to the newest remaining version. Its
        chunks no other version uses are freed by the next ``asyncart server gc``.
        """
        ref = parse_artifact_ref(name)
        async with self.client.use() as remote:
            return await remote.delete_version(
                ref.project or self.default_project, ref.name, ref.ref, delete_aliases
            )

    def _split(self, name: str, project: str | None) -> tuple[str, str]:
        if "/" in name:
            project, _, name = name.partition("/")
        return self._project(project), validate_name(name)

    def _project(self, project: str | None) -> str:
        return validate_name(project or self.default_project, what="project name")

    async def close(self) -> None:
        await self.client.close()


class Api:
    """Access to artifacts, versions and collections without a run (sync)."""

    def __init__(self, url: str | None = None, project: str | None = None) -> None:
        settings = resolve_settings(url, project)
        client = portal.call(shared_client, settings)
        self._async: AsyncApi[Artifact] = AsyncApi(artifact_class=Artifact, client=client)

    @property
    def default_project(self) -> str:
        """The project names without one refer to."""
        return self._async.default_project

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """Fetch ``[project/]name[:version|alias]`` (a bare name means ``:latest``)."""
        return portal.call(self._async.artifact, name, type)

    def artifacts(
        self,
        type_name: str,
        name: str,
        per_page: int = 50,
        tags: Sequence[str] | None = None,
        order: str | None = None,
    ) -> list[Artifact]:
        """Every version of the ``type_name`` collection ``[project/]name`` (see
        :meth:`AsyncApi.artifacts`)."""
        return portal.call(self._async.artifacts, type_name, name, per_page, tags, order)

    @overload
    def artifact_versions(self, type_name: str) -> list[VersionInfo]: ...
    @overload
    def artifact_versions(
        self, type_name: str, name: str, per_page: int = 50
    ) -> list[Artifact]: ...
    def artifact_versions(
        self, type_name: str, name: str | None = None, per_page: int = 50
    ) -> list[Artifact] | list[VersionInfo]:
        """W&B's ``artifact_versions(type_name, name)`` (the same as :meth:`artifacts`), or
        with one argument asyncart's older ``artifact_versions('[project/]name')``: the
        ``VersionInfo`` of every version."""
        return portal.call(self._async.artifact_versions, type_name, name, per_page)

    def artifact_type(self, type_name: str, project: str | None = None) -> ArtifactType:
        """The artifact type ``type_name`` of ``project`` (``NotFoundError`` if unused)."""
        return ArtifactType(portal.call(self._async.artifact_type, type_name, project))

    def artifact_types(self, project: str | None = None) -> list[ArtifactType]:
        """The artifact types of ``project``, by name."""
        return [ArtifactType(t) for t in portal.call(self._async.artifact_types, project)]

    def artifact_collection(self, type_name: str, name: str) -> ArtifactCollection:
        """The ``type_name`` collection ``[project/]name`` (``ArtifactNotFound`` if none)."""
        return ArtifactCollection(portal.call(self._async.artifact_collection, type_name, name))

    def artifact_collections(
        self, project_name: str | None = None, type_name: str | None = None, per_page: int = 50
    ) -> list[ArtifactCollection]:
        """The artifact collections of a project (of ``type_name`` only, if given)."""
        found = portal.call(self._async.artifact_collections, project_name, type_name, per_page)
        return [ArtifactCollection(c) for c in found]

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether the version ``[project/]name[:version|alias]`` exists (of ``type``)."""
        return portal.call(self._async.artifact_exists, name, type)

    def artifact_collection_exists(self, name: str, type: str) -> bool:
        """Whether the collection ``[project/]name`` exists with type ``type``."""
        return portal.call(self._async.artifact_collection_exists, name, type)

    def run(self, path: str) -> ApiRun:
        """The run ``[project/]run_id`` (``RunNotFound`` if there is none)."""
        return ApiRun(portal.call(self._async.run, path))

    def project(self, name: str | None = None) -> Project:
        """The project ``name`` (default: :attr:`default_project`)."""
        return Project(self._async.project(name))

    def projects(self) -> list[str]:
        return portal.call(self._async.projects)

    def storage(self, project: str | None = None) -> ProjectStorage:
        """What the versions of ``project`` cost (see :meth:`AsyncApi.storage`)."""
        return portal.call(self._async.storage, project)

    def origins(self, name: str) -> list[VersionOrigin]:
        """Where synced versions of ``[project/]name`` came from (see
        :meth:`AsyncApi.origins`)."""
        return portal.call(self._async.origins, name)

    def lineage(self, name: str, depth: int | None = None) -> LineageGraph:
        """The lineage graph of ``[project/]name[:ref]`` (see :meth:`AsyncApi.lineage`)."""
        return portal.call(self._async.lineage, name, depth)

    def delete_artifact(
        self, name: str, project: str | None = None, *, delete_aliases: bool = False
    ) -> list[VersionInfo]:
        """Delete every version of ``[project/]name`` (see :meth:`AsyncApi.delete_artifact`)."""
        return portal.call(
            partial(self._async.delete_artifact, delete_aliases=delete_aliases), name, project
        )

    def delete_version(self, name: str, *, delete_aliases: bool = False) -> VersionInfo:
        """Delete the version ``[project/]name:version|alias`` (see
        :meth:`AsyncApi.delete_version`); returns it as it was."""
        return portal.call(self._delete_version, name, delete_aliases)

    async def _delete_version(self, name: str, delete_aliases: bool) -> VersionInfo:
        return await self._async.delete_version(name, delete_aliases=delete_aliases)

    def close(self) -> None:
        """Nothing to release: the sync API shares one connection per store, closed at exit."""
