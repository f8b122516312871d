"""Distributed versions in the repository (W&B's ``upsert_artifact`` / ``finish_artifact``;
``Repository`` inherits these).

The processes of one job (each its own run, all with the same ``distributed_id``) send
their files as parts of one pending version; ``finish`` commits every part as one
version, through the ordinary commit (so the same content finds the same version, and a
finish retried after its answer was lost commits nothing twice). Until then the version
is invisible: no index, no alias, not listed. A pending version nobody finishes keeps
its chunks from garbage collection and is committed by the next ``finish`` under the
same ``distributed_id`` (docs/protocol.md §3.12).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import Manifest
from asyncart.core.models import CommitRequest, PendingInfo, VersionInfo
from asyncart.core.names import validate_alias, validate_name
from asyncart.core.run_labels import validate_distributed_id
from asyncart.errors import ChunkMissing, ConfigError
from asyncart.repo.metastores import MetaStore
from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.metastores.pending_records import NewPart
from asyncart.repo.prepared import PreparedCommit, check_description, check_metadata

_BATCH = 10_000  # hashes per metastore query
_TOKEN_RE = re.compile(r"[0-9a-f]{32}")


class DistributedMethods:
    """The pending-version operations of :class:`~asyncart.repo.service.Repository`."""

    meta: MetaStore

    if TYPE_CHECKING:

        async def commit(
            self, req: CommitRequest | PreparedCommit, *, scope: ChunkScope | None = None
        ) -> VersionInfo: ...

    async def upsert_pending(
        self,
        req: CommitRequest | PreparedCommit,
        distributed_id: str,
        *,
        scope: ChunkScope | None = None,
    ) -> PendingInfo:
        """Add ``req``'s entries to the pending version under ``distributed_id``.

        Raises:
            ChunkMissing: an entry's chunks are not held (or not visible to ``scope``).
            ConflictError: a path is pending already with other bytes (nothing is added).
            TypeConflict: the collection, or an earlier part, has another type.
        """
        part = _part_of(req, distributed_id)
        missing: list[str] = []
        for i in range(0, len(part.chunks), _BATCH):
            missing += await self.meta.missing_chunks(part.chunks[i : i + _BATCH], scope=scope)
        if missing:
            raise ChunkMissing(
                f"the part names {len(missing)} chunk(s) the store does not hold "
                f"(first: {missing[0]}); upload them first (pushing again uploads exactly "
                "what the store lacks)"
            )
        return await self.meta.add_pending_part(part)

    async def finish_pending(
        self,
        req: CommitRequest | PreparedCommit,
        distributed_id: str,
        *,
        token: str | None = None,
        scope: ChunkScope | None = None,
    ) -> VersionInfo:
        """Add ``req``'s entries (if any), then commit every part as one version, logged
        by ``req.run_id`` and by each run that sent a part.

        ``token`` (the client's, 32 hex characters) names this finish: sent again (a
        retry after a lost answer) it answers the version it made, changing nothing.

        Raises:
            ConfigError: nothing is pending under ``distributed_id`` and ``req`` is empty.
            ConflictError, TypeConflict, ChunkMissing: as :meth:`upsert_pending`.
        """
        if token is not None:
            _check_token(token)
            done = await self.meta.finished_version(req.project, req.name, token)
            if done is not None:
                return done
        if len(req.manifest):
            await self.upsert_pending(req, distributed_id, scope=scope)
        else:  # nothing to add: no part (its labels go straight into the commit)
            _part_of(req, distributed_id)
        contents = await self.meta.read_pending(req.project, req.name, distributed_id)
        if contents is None or not contents.entries:
            raise ConfigError(
                f"nothing to finish: no process added files to artifact {req.name!r} under "
                f"distributed_id {distributed_id!r}; add files before finishing it"
            )
        manifest = Manifest(contents.entries, chunker=ChunkerSpec.from_json(contents.chunker))
        info = await self.commit(
            CommitRequest(
                project=req.project,
                name=req.name,
                type=contents.type,
                manifest=manifest,
                aliases=tuple(dict.fromkeys([*contents.aliases, *req.aliases])),
                metadata={**contents.metadata, **req.metadata},
                description=contents.description if req.description is None else req.description,
                run_id=req.run_id,
            ),
            scope=scope,
        )
        await self.meta.close_pending(
            req.project, req.name, distributed_id, contents, info.index, token
        )
        return info


def _check_token(token: str) -> None:
    if not _TOKEN_RE.fullmatch(token):
        raise ConfigError(f"finish token {token[:80]!r} is not 32 lowercase hex characters")


def _part_of(req: CommitRequest | PreparedCommit, distributed_id: str) -> NewPart:
    """``req`` as a part, every field checked as a commit checks it."""
    validate_name(req.project, what="project name")
    validate_name(req.name)
    validate_name(req.type, what="artifact type")
    validate_distributed_id(distributed_id)
    aliases = tuple(dict.fromkeys(validate_alias(a) for a in req.aliases))
    check_metadata(req.metadata, "version metadata")
    check_description(req.description)
    if isinstance(req, PreparedCommit):
        manifest = Manifest.decode(req.manifest.blob)
        hashes = req.manifest.hashes
    else:
        manifest = req.manifest
        hashes = tuple(sorted(manifest.chunk_hashes()))
    return NewPart(
        project=req.project,
        name=req.name,
        type=req.type,
        distributed_id=distributed_id,
        entries=manifest.entries,
        chunks=hashes,
        chunker=manifest.chunker.to_json(),
        aliases=aliases,
        metadata=dict(req.metadata),
        description=req.description,
        run_id=req.run_id,
    )
