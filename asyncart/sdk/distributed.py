"""W&B's distributed artifacts: ``run.upsert_artifact`` / ``run.finish_artifact``.

The processes of one job (each with its own run, all with the same ``distributed_id``,
by default the run's ``group``) add their files to one version; ``finish_artifact``
commits it once. Until then the version is pending: ``state`` ``'PENDING'``, no
version number, no ``latest``, invisible to readers. Each part's bytes are uploaded and
deduplicated as a log's are (a process that died mid-upload sends only what the store
still lacks when it runs again); a path two processes send with other bytes is refused
(``DistributedConflict``). :class:`DistributedRun` is mixed into ``AsyncRun``.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio.to_thread

from asyncart.client.client import Client
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.publish import publish_part
from asyncart.core.models import RunInfo, VersionInfo
from asyncart.core.run_labels import validate_distributed_id
from asyncart.errors import MissingDistributedId
from asyncart.sdk.artifact import BaseArtifact

A = TypeVar("A", bound=BaseArtifact)


async def log_part(
    artifact: BaseArtifact,
    client: Client,
    project: str,
    run_id: str,
    aliases: list[str],
    distributed_id: str,
    *,
    finish: bool,
    progress: Progress | None = None,
) -> None:
    """Send ``artifact``'s files as one part; with ``finish``, commit every part and bind
    ``artifact`` to the version made. Without, ``artifact`` is finalized, and stays
    ``PENDING`` (its ``pending_version`` says what is pending)."""
    pub = artifact._publication(project, run_id, aliases, allow_empty=True)
    stats = TransferStats()
    token = secrets.token_hex(16) if finish else None
    async with client.use() as remote:
        result = await publish_part(
            remote, pub, client.settings, stats, progress, distributed_id, finish_token=token
        )
        if isinstance(result, VersionInfo):
            manifest = await remote.get_manifest(result.project, result.name, result.version)
    artifact.distributed_id = distributed_id
    if isinstance(result, VersionInfo):
        artifact._bind(client, result, manifest)
    else:
        artifact.pending_version = result
        artifact.finalize()
    artifact.last_transfer = stats
    await anyio.to_thread.run_sync(artifact._draft.cleanup)


class DistributedRun(Generic[A]):
    """``upsert_artifact`` and ``finish_artifact`` of :class:`~asyncart.sdk.async_run.AsyncRun`."""

    client: Client
    info: RunInfo

    if TYPE_CHECKING:

        @property
        def project(self) -> str: ...

        @property
        def id(self) -> str: ...

        def _check_log(
            self,
            artifact_or_path: A | str | os.PathLike[str],
            name: str | None,
            type: str | None,
            aliases: list[str] | None,
            tags: list[str] | None = None,
            *,
            allow_empty: bool = False,
        ) -> tuple[A, list[str]]: ...

    async def upsert_artifact(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        distributed_id: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> A:
        """Add this process's files to the version the processes sharing
        ``distributed_id`` (default: this run's ``group``) write together; committed by
        :meth:`finish_artifact`. Returns once the part is stored; the artifact is then
        ``PENDING`` and finalized. An empty artifact adds nothing (but this run counts
        among the version's producers).

        Raises:
            MissingDistributedId: (a ``TypeError``) no ``distributed_id`` and no group.
            DistributedConflict: a path another process sent with other bytes.
            TypeConflict: the collection, or an earlier part, has another type.
        """
        return await self._log_part(
            artifact_or_path, name, type, aliases, distributed_id, False, progress
        )

    async def finish_artifact(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        distributed_id: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> A:
        """Add this process's files (if any) and commit every part sent under
        ``distributed_id`` as one version (a new one only if the content is new), logged
        by every run that sent a part. Call it once, after the other processes' upserts
        returned; an upsert after it starts the next version. Returns the artifact bound
        to the version.

        Raises:
            MissingDistributedId, DistributedConflict, TypeConflict: as :meth:`upsert_artifact`.
            ConfigError: nothing was sent under ``distributed_id`` and the artifact is empty.
        """
        return await self._log_part(
            artifact_or_path, name, type, aliases, distributed_id, True, progress
        )

    async def _log_part(
        self,
        artifact_or_path: A | str | os.PathLike[str],
        name: str | None,
        type: str | None,
        aliases: list[str] | None,
        distributed_id: str | None,
        finish: bool,
        progress: Progress | None,
    ) -> A:
        method = "finish_artifact" if finish else "upsert_artifact"
        chosen = self._distributed_id(distributed_id, method)
        artifact, alias_list = self._check_log(
            artifact_or_path, name, type, aliases, allow_empty=True
        )
        await log_part(
            artifact,
            self.client,
            self.project,
            self.id,
            alias_list,
            chosen,
            finish=finish,
            progress=progress,
        )
        return artifact

    def _distributed_id(self, given: Any, method: str) -> str:
        if given is None:
            given = self.info.group
        if given is None:
            raise MissingDistributedId(
                f"{method} needs distributed_id=, which every process of the job passes "
                "alike, or a run started with asyncart.init(group=...)"
            )
        return validate_distributed_id(given)
