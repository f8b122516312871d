"""Runs, sync: ``Run`` runs each method of ``AsyncRun`` (``async_run.py``) through the portal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from asyncart.core.models import VersionInfo
from asyncart.sdk import portal
from asyncart.sdk.artifact import Artifact
from asyncart.sdk.async_run import AsyncRun, resolve_settings
from asyncart.sdk.deprecated import warn_use_as
from asyncart.sdk.pending import wait_before_pools_stop, wait_reporting
from asyncart.sdk.run_config import RunConfig
from asyncart.sdk.shared import shared_client

_open_runs: set[Run] = set()


async def _finish_open_runs() -> None:
    """At interpreter exit: wait for each open run's uploads (reporting failures), finish it."""
    for run in list(_open_runs):
        _open_runs.discard(run)
        await run._async.finish(raise_errors=False)


def _wait_for_open_runs() -> None:
    """At interpreter exit, before the thread pools stop: every open run's logs settle
    (a second Ctrl-C abandons them: the exit goes on, without a traceback)."""
    with contextlib.suppress(KeyboardInterrupt):
        wait_reporting([p for run in list(_open_runs) for p in run._async._uploads])


class Run:
    """A run (sync API). Create one with ``asyncart.init(job_type=...)``.

    Every method runs :class:`AsyncRun`'s on the portal loop (``sdk/portal.py``).
    """

    def __init__(self, async_run: AsyncRun[Artifact], *, sync: bool = False) -> None:
        self._async = async_run
        self.sync = sync
        _open_runs.add(self)
        wait_before_pools_stop(_wait_for_open_runs)

    id = property(lambda self: self._async.id)
    project = property(lambda self: self._async.project)
    job_type = property(lambda self: self._async.job_type)
    name = property(lambda self: self._async.name)
    group = property(lambda self: self._async.group)
    tags = property(lambda self: self._async.tags)
    notes = property(lambda self: self._async.notes)
    settings = property(lambda self: self._async.client.settings)

    @property
    def config(self) -> RunConfig[Artifact]:
        """W&B's ``run.config``: a dict with attribute access; artifacts in it are used
        by the run (``sdk/run_config.py``)."""
        return RunConfig(self._async)

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
        *,
        wait: bool | None = None,
    ) -> Artifact:
        """Log an artifact as this run's output; see :meth:`AsyncRun.log_artifact`.

        Returns at once: the upload and commit go on in the background.
        ``artifact.wait()`` blocks until committed (re-raising the upload's
        error); so do properties that need the commit (``version``, ``digest``,
        ``aliases``...); ``artifact.cancel()`` stops it. ``run.finish()`` and
        interpreter exit wait for every pending upload. ``wait=True`` (or
        ``init(sync=True)``) blocks here. Mistakes found without I/O (a stored or
        empty artifact, a bad alias, a finished run) raise here, at once; a type
        that is not the collection's is found at the commit, so ``wait()`` raises
        it (``TypeConflict``, a ``ValueError``), or this call with ``wait=True``.
        """
        return self._async._log_from_thread(
            artifact_or_path,
            name,
            type,
            aliases,
            wait=self.sync if wait is None else wait,
            tags=tags,
        )

    def use_artifact(
        self,
        artifact_or_name: Artifact | str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
        *,
        name: str | None = None,
    ) -> Artifact:
        """Use an artifact as this run's input; see :meth:`AsyncRun.use_artifact`."""
        warn_use_as("run.use_artifact", use_as)
        return portal.call(
            lambda: self._async.use_artifact(artifact_or_name, type, aliases, name=name)
        )

    def upsert_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add this process's files to a distributed version; see
        :meth:`AsyncRun.upsert_artifact`. Blocks until the part is stored (W&B returns
        at once): the job's processes must all have upserted before one finishes."""
        return portal.call(
            lambda: self._async.upsert_artifact(
                artifact_or_path, name, type, aliases, distributed_id
            )
        )

    def finish_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Commit a distributed version once; see :meth:`AsyncRun.finish_artifact`.
        Blocks until committed."""
        return portal.call(
            lambda: self._async.finish_artifact(
                artifact_or_path, name, type, aliases, distributed_id
            )
        )
    def link_artifact(
        self, artifact: Artifact, target_path: str, aliases: list[str] | None = None
    ) -> Artifact:
        """Link an artifact into a collection; see :meth:`AsyncRun.link_artifact`."""
        return portal.call(self._async.link_artifact, artifact, target_path, aliases)

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> None:
        """Log a model file or directory; see :meth:`AsyncRun.log_model`."""
        portal.call(self._async.log_model, path, name, aliases)

    def use_model(self, name: str) -> str:
        """Use and download a model; see :meth:`AsyncRun.use_model`."""
        return portal.call(self._async.use_model, name)

    def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> Artifact:
        """Log a model and link it into the model registry; see :meth:`AsyncRun.link_model`."""
        return portal.call(self._async.link_model, path, registered_model_name, name, aliases)

    def logged_artifacts(self) -> list[VersionInfo]:
        """Versions this run logged (after its logs in flight settled)."""
        return portal.call(self._async.logged_artifacts)

    def used_artifacts(self) -> list[VersionInfo]:
        """Versions this run used."""
        return portal.call(self._async.used_artifacts)

    def finish(self, status: str = "finished") -> None:
        """Wait for pending uploads, then mark the run finished; also done at interpreter exit.

        Raises the first upload error nobody saw yet, after every upload settled.
        """
        _open_runs.discard(self)
        # Waited for here, in the caller's thread: Ctrl-C then says what is still uploading
        # (a second one abandons it) instead of interrupting the portal with a traceback.
        wait_reporting(self._async._uploads)
        portal.call(self._async.finish, status)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _open_runs.discard(self)
        wait_reporting(self._async._uploads)  # here, as finish() does
        portal.call(self._async.__aexit__, exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<Run {self.id} project={self.project!r} job_type={self.job_type!r}>"


def init(
    job_type: str = "job",
    project: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    url: str | None = None,
    *,
    group: str | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    sync: bool = False,
) -> Run:
    """Start a run. With no ``url`` (and no ``ASYNCART_URL``) the embedded local store is used.

    ``group``, ``tags`` and ``notes`` label it as W&B's do (read back through
    ``asyncart.Api().run(path)``); the runs of one job share a ``group``, which is also
    their default ``distributed_id``. ``sync=True``: ``log_artifact`` blocks until the
    version is committed.
    """

    settings = resolve_settings(url, project)  # in the caller's thread: it stats files

    async def start() -> AsyncRun[Artifact]:
        client = await shared_client(settings)
        return await AsyncRun.start(
            job_type,
            project,
            name,
            config,
            group=group,
            tags=tags,
            notes=notes,
            artifact_class=Artifact,
            client=client,
        )

    return Run(portal.call(start), sync=sync)


portal.on_exit(_finish_open_runs)
