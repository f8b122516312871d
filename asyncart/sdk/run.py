"""Runs: ``AsyncRun`` holds the logic; ``Run`` is the sync facade over it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from asyncart.client.client import Client
from asyncart.client.progress import Progress
from asyncart.config import Settings
from asyncart.core.models import RunInfo, VersionInfo
from asyncart.core.names import parse_artifact_ref, validate_name
from asyncart.errors import ConfigError
from asyncart.sdk import portal
from asyncart.sdk.artifact import Artifact, AsyncArtifact, BaseArtifact
from asyncart.sdk.shared import shared_client

A = TypeVar("A", bound=BaseArtifact)


def resolve_settings(url: str | None = None, project: str | None = None) -> Settings:
    """Environment settings with explicit ``init`` arguments taking precedence."""
    settings = Settings.from_env()
    if url is not None:
        settings = settings.with_overrides(url=url.rstrip("/"))
    if project is not None:
        settings = settings.with_overrides(project=validate_name(project, what="project name"))
    return settings


async def fetch_artifact(
    client: Client,
    cls: type[A],
    reference: str,
    *,
    type: str | None = None,
    run_id: str | None = None,
    default_project: str,
) -> A:
    """Resolve ``[project/]name[:ref]``, check the type, record the use, load the manifest."""
    ref = parse_artifact_ref(reference)
    project = ref.project or default_project
    async with client.use() as remote:
        info = await remote.use_version(run_id, project, ref.name, ref.ref, type)
        manifest = await remote.get_manifest(project, ref.name, info.version)
    artifact = cls(info.name, info.type)
    artifact._bind(client, info, manifest)
    return artifact


class AsyncRun(Generic[A]):
    """One step of a pipeline: logs artifacts as outputs, uses artifacts as inputs."""

    def __init__(
        self, client: Client, info: RunInfo, artifact_class: type[A], *, owns_client: bool = True
    ) -> None:
        self.client = client
        self.info = info
        self.artifact_class = artifact_class
        self.finished = False
        self._owns_client = owns_client

    @classmethod
    async def start(
        cls,
        job_type: str,
        project: str | None = None,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        url: str | None = None,
        *,
        artifact_class: type[Any] = AsyncArtifact,
        client: Client | None = None,
    ) -> AsyncRun[Any]:
        """Create a run on the configured store (the embedded one unless a URL is set).

        With ``client`` given, the run borrows it; otherwise it opens its own
        and closes it at :meth:`finish`.
        """
        if config is not None and not isinstance(config, dict):
            raise ConfigError("config must be a dict")
        owns = client is None
        if client is None:
            client = Client(resolve_settings(url, project))
        remote = await client.open()
        try:
            info = await remote.create_run(
                project or client.settings.project,
                job_type,
                name,
                dict(config or {}),
                secrets.token_hex(6),
            )
        except BaseException:
            if owns:
                await client.close()
            raise
        return cls(client, info, artifact_class, owns_client=owns)

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def project(self) -> str:
        return self.info.project

    @property
    def job_type(self) -> str:
        return self.info.job_type

    @property
    def name(self) -> str | None:
        return self.info.name

    @property
    def config(self) -> dict[str, Any]:
        return self.info.config

    def _check_open(self) -> None:
        if self.finished:
            raise ConfigError(f"run {self.id} is finished; start a new one with asyncart.init()")

    async def log_artifact(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> A:
        """Log an artifact as this run's output: a new version only if the content changed.

        ``artifact_or_path`` may be a path, with ``name`` and ``type`` given.
        Moves ``latest`` and applies ``aliases``. Returns the artifact with
        ``.version``, ``.digest``, ``.aliases`` and ``.size`` set.
        """
        self._check_open()
        artifact = self._as_artifact(artifact_or_path, name, type)
        if not artifact.is_draft:
            raise ConfigError(
                f"artifact {artifact.qualified_name} is already stored; to add aliases, log a new "
                "Artifact with the same content"
            )
        await artifact._log(self.client, self.project, self.id, aliases, progress)
        return artifact

    def _as_artifact(self, obj: Any, name: str | None, type: str | None) -> A:
        if isinstance(obj, BaseArtifact):
            return obj  # type: ignore[return-value]
        if isinstance(obj, (str, os.PathLike)):
            path = Path(obj)
            if name is None or type is None:
                raise ConfigError("logging a path needs name= and type=")
            artifact = self.artifact_class(name, type)
            if path.is_dir():
                artifact.add_dir(path)
            else:
                artifact.add_file(path)
            return artifact
        raise ConfigError(f"expected an Artifact or a path, got {obj.__class__.__name__}")

    async def use_artifact(
        self,
        artifact_or_name: A | str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        *,
        name: str | None = None,
    ) -> A:
        """Use an artifact as this run's input.

        By name (``'bike dataset:latest'``, ``'p/name:v3'``, also as ``name=``):
        resolves it, checks ``type`` if given, records the input. With an
        ``Artifact`` object: logs it if its content is new (idempotent), then
        records the input.
        """
        self._check_open()
        target = artifact_or_name if artifact_or_name is not None else name
        if target is None:
            raise ConfigError("use_artifact needs an artifact or a name")
        if isinstance(target, BaseArtifact):
            artifact: A = target
            if type is not None and type != artifact.type:
                raise ConfigError(f"artifact {artifact.name!r} has type {artifact.type!r}, not {type!r}")
            if artifact.is_draft:
                await artifact._log(self.client, self.project, None, aliases)
            info = artifact._info
            assert info is not None
            async with self.client.use() as remote:
                await remote.use_version(self.id, info.project, info.name, info.version, None)
            return artifact
        if not isinstance(target, str):
            raise ConfigError(f"expected an Artifact or a name, got {target.__class__.__name__}")
        return await fetch_artifact(
            self.client,
            self.artifact_class,
            target,
            type=type,
            run_id=self.id,
            default_project=self.project,
        )

    async def logged_artifacts(self) -> list[VersionInfo]:
        """Versions this run logged."""
        async with self.client.use() as remote:
            return await remote.run_outputs(self.id)

    async def used_artifacts(self) -> list[VersionInfo]:
        """Versions this run used."""
        async with self.client.use() as remote:
            return await remote.run_inputs(self.id)

    async def finish(self, status: str = "finished") -> None:
        """Mark the run finished (idempotent) and release connections."""
        if not self.finished:
            self.finished = True
            try:
                async with self.client.use() as remote:
                    self.info = await remote.finish_run(self.id, status)
            finally:
                if self._owns_client:
                    await self.client.close()

    async def __aenter__(self) -> AsyncRun[A]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.finish("failed" if exc_type else "finished")


_open_runs: set[Run] = set()


async def _finish_open_runs() -> None:
    for run in list(_open_runs):
        await run._async.finish()
        _open_runs.discard(run)


class Run:
    """A run (sync API). Create one with ``asyncart.init(job_type=...)``."""

    def __init__(self, async_run: AsyncRun[Artifact]) -> None:
        self._async = async_run
        _open_runs.add(self)

    id = property(lambda self: self._async.id)
    project = property(lambda self: self._async.project)
    job_type = property(lambda self: self._async.job_type)
    name = property(lambda self: self._async.name)
    config = property(lambda self: self._async.config)
    settings = property(lambda self: self._async.client.settings)

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
    ) -> Artifact:
        """Log an artifact as this run's output; see :meth:`AsyncRun.log_artifact`."""
        return portal.call(self._async.log_artifact, artifact_or_path, name, type, aliases)

    def use_artifact(
        self,
        artifact_or_name: Artifact | str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        *,
        name: str | None = None,
    ) -> Artifact:
        """Use an artifact as this run's input; see :meth:`AsyncRun.use_artifact`."""
        return portal.call(
            lambda: self._async.use_artifact(artifact_or_name, type, aliases, name=name)
        )

    def logged_artifacts(self) -> list[VersionInfo]:
        return portal.call(self._async.logged_artifacts)

    def used_artifacts(self) -> list[VersionInfo]:
        return portal.call(self._async.used_artifacts)

    def finish(self, status: str = "finished") -> None:
        """Mark the run finished; also done at interpreter exit."""
        _open_runs.discard(self)
        portal.call(self._async.finish, status)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish("failed" if exc_type else "finished")

    def __repr__(self) -> str:
        return f"<Run {self.id} project={self.project!r} job_type={self.job_type!r}>"


def init(
    job_type: str = "job",
    project: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    url: str | None = None,
) -> Run:
    """Start a run. With no ``url`` (and no ``ASYNCART_URL``) the embedded local store is used."""
    async def start() -> AsyncRun[Artifact]:
        client = await shared_client(resolve_settings(url, project))
        return await AsyncRun.start(
            job_type, project, name, config, artifact_class=Artifact, client=client
        )

    return Run(portal.call(start))


portal.on_exit(_finish_open_runs)
