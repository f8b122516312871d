"""Runs, async: ``AsyncRun`` holds the logic; ``Run`` (``run.py``) is the sync facade over it."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import Future
from functools import partial
from threading import current_thread
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread

from asyncart.client.client import Client
from asyncart.client.progress import Fanout, Progress
from asyncart.config import Settings
from asyncart.core.models import RunInfo, VersionInfo
from asyncart.core.names import (
    parse_artifact_ref,
    validate_aliases,
    validate_name,
    validate_tags,
)
from asyncart.errors import ConfigError
from asyncart.sdk import portal
from asyncart.sdk.artifact import AsyncArtifact, BaseArtifact
from asyncart.sdk.deprecated import warn_use_as
from asyncart.sdk.distributed import DistributedRun
from asyncart.sdk.draft import stage_snapshots_for
from asyncart.sdk.metadata import normalize_metadata
from asyncart.sdk.pending import (
    PendingUpload,
    UploadMeter,
    report,
    settled,
    wait_reporting,
)
from asyncart.sdk.run_config import ConfigCore, check_config_values, names_artifact
from asyncart.sdk.run_fields import RunFields
from asyncart.sdk.run_links import RunLinks
from asyncart.sdk.sources import artifact_of_path, check_labels

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


class AsyncRun(ConfigCore[A], RunFields, DistributedRun[A], RunLinks[A]):
    """One step of a pipeline: logs artifacts as outputs, uses artifacts as inputs
    (``upsert_artifact`` / ``finish_artifact``: :class:`DistributedRun`; links and the
    model helpers: :class:`RunLinks`, ``run_links.py``; ``config``, artifacts in it
    included: :class:`ConfigCore`, ``run_config.py``)."""

    def __init__(
        self, client: Client, info: RunInfo, artifact_class: type[A], *, owns_client: bool = True
    ) -> None:
        self.client = client
        self.info = info
        self.artifact_class = artifact_class
        self.finished = False
        self._owns_client = owns_client
        self._uploads: list[PendingUpload] = []  # logs not yet settled, or failed unseen
        self._name_locks: dict[str, anyio.Lock] = {}
        self._config_artifacts: dict[str, A] = {}
        self._config_lock = anyio.Lock()
        stage_snapshots_for(client.settings)  # artifacts built from now on snapshot in its cache

    @classmethod
    async def start(
        cls,
        job_type: str,
        project: str | None = None,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        url: str | None = None,
        *,
        group: str | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
        artifact_class: type[Any] = AsyncArtifact,
        client: Client | None = None,
    ) -> AsyncRun[Any]:
        """Create a run on the configured store (the embedded one unless a URL is set),
        labelled with W&B's ``group`` (the runs of one job share it; ``upsert_artifact``'s
        default ``distributed_id``), ``tags`` and ``notes``.

        With ``client`` given, the run borrows it; otherwise it opens its own
        and closes it at :meth:`finish`. Artifacts in ``config`` (objects, URIs,
        references: ``run_config.py``) are used once the run exists; if one cannot be,
        the run is finished as failed and the error raised.
        """
        if config is not None and not isinstance(config, dict):
            raise ConfigError("config must be a dict")
        checked = check_config_values(config or {})  # malformed URIs refused before the run
        plain = {k: v for k, v in checked.items() if not names_artifact(v)}
        labels = check_labels(group, tags, notes)
        owns = client is None
        if client is None:
            # Reading the settings stats files (a CA bundle): not on the event loop.
            client = Client(await asyncio.to_thread(resolve_settings, url, project))
        remote = await client.open()
        try:
            info = await remote.create_run(
                project or client.settings.project,
                job_type,
                name,
                plain,
                secrets.token_hex(6),
                group=labels[0],
                tags=labels[1],
                notes=labels[2],
            )
        except BaseException:
            if owns:
                await client.close()
            raise
        run: AsyncRun[Any] = cls(client, info, artifact_class, owns_client=owns)
        artifacts = {k: v for k, v in checked.items() if k not in plain}
        if artifacts:
            try:
                await run._update_config(artifacts)
            except BaseException:
                await run.finish("failed", raise_errors=False)
                raise
        return run

    def _check_open(self) -> None:
        if self.finished:
            raise ConfigError(f"run {self.id} is finished; start a new one with asyncart.init()")

    async def log_artifact(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> A:
        """Log an artifact as this run's output: a new version only if the content changed.

        ``artifact_or_path`` may be a file, a directory or a reference URI (``file://``,
        ``s3://``, ``http(s)://``), as W&B's: named ``run-<run id>-<base name>`` and of
        type ``'unspecified'`` unless ``name`` / ``type`` are given.
        Moves ``latest`` and applies ``aliases``; gives the version ``tags``. Returns,
        once the version is committed, the artifact with ``.version``, ``.digest``, ``.aliases`` and
        ``.size`` set. Logs of different names run concurrently (``asyncio.gather``);
        logs of one name from one run commit one after another, in call order.
        The caller waits, so the push runs in this process (a foreground log,
        never handed to the push worker unless ``ASYNCART_PUSH_WORKER=always``);
        cancelling the awaiting task cancels the log.
        """
        artifact, alias_list = self._check_log(artifact_or_path, name, type, aliases, tags)
        meter, future = UploadMeter(artifact.size), Future[None]()
        pending = PendingUpload(artifact._base_name, meter, future, current_thread())
        self._track(artifact, pending)
        pending.observed = True  # the caller gets the error from this await
        try:
            await self._upload(artifact, alias_list, meter, progress, background=False, tags=tags)
        except anyio.get_cancelled_exc_class():
            future.cancel()  # as artifact.cancel() leaves it: a draft again, no error
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(None)
        return artifact

    def _log_from_thread(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None,
        type: str | None,
        aliases: list[str] | None,
        *,
        wait: bool,
        tags: list[str] | None = None,
    ) -> A:
        """The sync API's log: check now, in the caller's thread, then upload on the portal loop.

        ``wait=False``: return at once; the caller goes on, so a large push may run in
        the push worker process (``ASYNCART_PUSH_WORKER``); ``artifact.wait()``,
        ``artifact.cancel()``, ``finish()`` and exit settle it. ``wait=True``: block
        until committed (re-raising its error), pushing in this process.
        """
        artifact, alias_list = self._check_log(artifact_or_path, name, type, aliases, tags)
        meter = UploadMeter(artifact.size)
        future, scope = portal.start_task(
            self._upload_task, artifact, alias_list, meter, not wait, tags
        )
        stop = partial(portal.call, scope.cancel)
        pending = PendingUpload(artifact._base_name, meter, future, portal.loop_thread(), stop)
        self._track(artifact, pending)
        if wait:
            pending.wait()
        return artifact

    def _check_log(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None,
        type: str | None,
        aliases: list[str] | None,
        tags: list[str] | None = None,
        *,
        allow_empty: bool = False,
    ) -> tuple[A, list[str]]:
        """Check everything that can be checked without I/O (beyond snapshots of a path).

        Runs in the caller's thread (the sync facade's too), so mistakes raise at once.
        ``allow_empty``: a distributed part may hold no files.
        """
        self._check_open()
        artifact = self._as_artifact(artifact_or_path, name, type)
        if artifact.is_logging:
            raise ConfigError(f"artifact {artifact._base_name!r} is already being logged")
        if not artifact.is_draft:
            raise ConfigError(
                f"artifact {artifact.qualified_name} is already stored; to change its aliases "
                "or tags set artifact.aliases / artifact.tags and call artifact.save(); for a "
                "new version, log artifact.new_draft()"
            )
        alias_list = validate_aliases(aliases)
        validate_tags(tags or [])
        normalize_metadata(artifact.metadata)  # changed in place since it was set: check now
        if not artifact._draft.entries and not allow_empty:
            raise ConfigError(
                f"artifact {artifact._base_name!r} is empty; add files before logging it"
            )
        return artifact, alias_list

    def _track(self, artifact: A, pending: PendingUpload) -> PendingUpload:
        """Mark ``artifact`` as logging; keep what finish() needs (logs in flight, failures
        nobody saw)."""
        artifact._pending = pending
        self._uploads = [p for p in self._uploads if p.unsettled_or_unseen]
        self._uploads.append(pending)
        return pending

    async def _upload_task(
        self,
        artifact: A,
        aliases: list[str],
        meter: UploadMeter,
        background: bool,
        tags: list[str] | None = None,
        *,
        task_status: anyio.abc.TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """:meth:`_upload` as a task that hands its cancel scope to whoever started it.

        Cancelling the scope (``artifact.cancel()``) stops the upload; the task then ends
        with the loop's cancellation exception, so its future reads cancelled only once
        the task has stopped, and a commit that won the race reads committed.
        (``Future.cancel()`` would mark it cancelled at once, while the task unwinds.)
        """
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            await self._upload(artifact, aliases, meter, background=background, tags=tags)
        if scope.cancelled_caught:
            raise anyio.get_cancelled_exc_class()()

    async def _upload(
        self,
        artifact: A,
        aliases: list[str],
        meter: UploadMeter,
        progress: Progress | None = None,
        *,
        background: bool,
        tags: list[str] | None = None,
    ) -> None:
        """Push and commit, after the logs of this name started before it (call order).

        ``background``: the caller goes on meanwhile, so a large push may run in
        the push worker process (``ASYNCART_PUSH_WORKER``).
        """
        async with self._name_locks.setdefault(artifact._base_name, anyio.Lock()):
            subscriber = meter if progress is None else Fanout(meter, progress)
            await artifact._log(
                self.client,
                self.project,
                self.id,
                aliases,
                subscriber,
                background=background,
                tags=tags,
            )

    async def _settle_uploads(self) -> list[BaseException]:
        """Wait for every log in flight, reporting progress on stderr; the errors nobody saw."""
        waiting = [p for p in self._uploads if not p.done]
        if waiting:
            await anyio.to_thread.run_sync(wait_reporting, waiting)
        errors = []
        for p in self._uploads:
            if p.error is not None and not p.observed:
                report(f"logging artifact {p.name!r} failed: {p.error!r}")
                errors.append(p.error)
        self._uploads = [p for p in self._uploads if not p.done]
        return errors

    def _as_artifact(self, obj: Any, name: str | None, type: str | None) -> A:
        if isinstance(obj, BaseArtifact):
            return obj  # type: ignore[return-value]
        if isinstance(obj, (str, os.PathLike)):
            return artifact_of_path(
                self.artifact_class, obj, name, type, self.id, self.client.settings.cache_dir
            )
        raise ConfigError(f"expected an Artifact, a path or a URI, got {obj.__class__.__name__}")

    async def use_artifact(
        self,
        artifact_or_name: A | str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
        *,
        name: str | None = None,
    ) -> A:
        """Use an artifact as this run's input.

        By name (``'bike dataset:latest'``, ``'p/name:v3'``, also as ``name=``):
        resolves it, checks ``type`` if given, records the input. With an
        ``Artifact`` object: logs it if its content is new (idempotent), then
        records the input. ``use_as`` is W&B's deprecated no-op: accepted, warned about.
        """
        warn_use_as("run.use_artifact", use_as)
        self._check_open()
        target = artifact_or_name if artifact_or_name is not None else name
        if target is None:
            raise ConfigError("use_artifact needs an artifact or a name")
        if isinstance(target, BaseArtifact):
            artifact: A = target
            if type is not None and type != artifact.type:
                raise ConfigError(
                    f"artifact {artifact._base_name!r} has type {artifact.type!r}, not {type!r}"
                )
            if artifact._pending is not None:
                await settled([artifact._pending])
                if artifact._pending.error is not None:
                    artifact._pending.observed = True
                    raise artifact._pending.error
            if artifact.is_draft:
                await artifact._log(self.client, self.project, None, aliases)
            info = artifact._info
            assert info is not None
            async with self.client.use() as remote:
                await remote.use_version(self.id, info.project, info.name, info.version, None)
            return artifact
        if not isinstance(target, str):
            raise ConfigError(f"expected an Artifact or a name, got {target.__class__.__name__}")
        # This run's own logs of that name in flight commit first ('model:latest' right
        # after a non-blocking log of 'model' means that version).
        wanted = parse_artifact_ref(target).name
        await settled(p for p in list(self._uploads) if p.name == wanted)
        return await fetch_artifact(
            self.client,
            self.artifact_class,
            target,
            type=type,
            run_id=self.id,
            default_project=self.project,
        )

    async def logged_artifacts(self) -> list[VersionInfo]:
        """Versions this run logged (after its logs in flight settled)."""
        await settled(list(self._uploads))
        async with self.client.use() as remote:
            return await remote.run_outputs(self.id)

    async def used_artifacts(self) -> list[VersionInfo]:
        """Versions this run used."""
        async with self.client.use() as remote:
            return await remote.run_inputs(self.id)

    async def finish(self, status: str = "finished", *, raise_errors: bool = True) -> None:
        """Wait for logs in flight, mark the run finished (idempotent), release connections.

        Progress is shown on stderr while uploads are pending. A failed upload
        nobody has seen yet (through ``wait()``, a property, or the awaited
        ``log_artifact``) is reported on stderr, the run is marked ``failed``,
        and the first such error is raised once everything settled (unless
        ``raise_errors`` is False).
        """
        if not self.finished:
            self.finished = True
            errors = await self._settle_uploads()
            try:
                async with self.client.use() as remote:
                    self.info = await remote.finish_run(self.id, "failed" if errors else status)
            finally:
                if self._owns_client:
                    await self.client.close()
            if errors and raise_errors:
                raise errors[0]

    async def __aenter__(self) -> AsyncRun[A]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # With an exception on its way, upload errors are reported, not raised over it.
        await self.finish("failed" if exc_type else "finished", raise_errors=exc_type is None)
