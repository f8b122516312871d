"""Reading the store without a run: ``Api().artifact('project/name:alias')`` and listings."""

from __future__ import annotations

from functools import partial
from typing import Any, Generic, TypeVar

from asyncart.client.client import Client
from asyncart.core.models import CollectionInfo, VersionInfo
from asyncart.core.names import parse_artifact_ref, validate_name
from asyncart.sdk import portal
from asyncart.sdk.artifact import Artifact, AsyncArtifact, BaseArtifact
from asyncart.sdk.async_run import fetch_artifact, resolve_settings
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
    def project(self) -> str:
        return self.client.settings.project

    async def artifact(self, name: str, type: str | None = None) -> A:
        """Fetch ``[project/]name[:version|alias]`` (a bare name means ``:latest``)."""
        return await fetch_artifact(
            self.client, self.artifact_class, name, type=type, default_project=self.project
        )

    async def artifact_versions(self, name: str, project: str | None = None) -> list[VersionInfo]:
        """Every version of a collection, oldest first."""
        project, name = self._split(name, project)
        async with self.client.use() as remote:
            return await remote.list_versions(project, name)

    async def artifact_collections(self, project: str | None = None) -> list[CollectionInfo]:
        """The artifact collections of a project."""
        async with self.client.use() as remote:
            return await remote.list_collections(project or self.project)

    async def projects(self) -> list[str]:
        async with self.client.use() as remote:
            return await remote.list_projects()

    async def lineage(self, name: str, depth: int | None = None) -> LineageGraph:
        """The runs and versions upstream and downstream of ``[project/]name[:ref]``."""
        ref = parse_artifact_ref(name)
        async with self.client.use() as remote:
            return await build_lineage(
                remote, ref.project or self.project, ref.name, ref.ref, depth=depth
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
                ref.project or self.project, ref.name, ref.ref, delete_aliases
            )

    def _split(self, name: str, project: str | None) -> tuple[str, str]:
        if "/" in name:
            project, _, name = name.partition("/")
        return validate_name(project or self.project, what="project name"), validate_name(name)

    async def close(self) -> None:
        await self.client.close()


class Api:
    """Access to artifacts, versions and collections without a run (sync)."""

    def __init__(self, url: str | None = None, project: str | None = None) -> None:
        settings = resolve_settings(url, project)
        client = portal.call(shared_client, settings)
        self._async: AsyncApi[Artifact] = AsyncApi(artifact_class=Artifact, client=client)

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """Fetch ``[project/]name[:version|alias]`` (a bare name means ``:latest``)."""
        return portal.call(self._async.artifact, name, type)

    def artifact_versions(self, name: str, project: str | None = None) -> list[VersionInfo]:
        return portal.call(self._async.artifact_versions, name, project)

    def artifact_collections(self, project: str | None = None) -> list[CollectionInfo]:
        return portal.call(self._async.artifact_collections, project)

    def projects(self) -> list[str]:
        return portal.call(self._async.projects)

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
