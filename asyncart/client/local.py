"""``LocalRemote``: the embedded store, the repository code the server runs, called in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from asyncart.client.answer_checks import checked_manifest
from asyncart.client.counters import Counters
from asyncart.client.remote import RangeSink, Remote
from asyncart.config import Settings
from asyncart.core.manifest import Manifest
from asyncart.core.models import (
    ChunkLocation,
    CollectionChanges,
    CollectionInfo,
    CommitRequest,
    PendingInfo,
    RunInfo,
    VersionChanges,
    VersionInfo,
)
from asyncart.core.origins import ProjectAccess, VersionOrigin
from asyncart.core.retention import RetentionPolicy
from asyncart.core.storage import ProjectStorage, QuotaUsage
from asyncart.repo.service import Repository

#: Bytes of a pack range read at a time (a server's answer arrives in pieces too).
_READ_PIECE = 4 << 20


class LocalRemote(Remote):
    """The embedded store: repository calls in this process, no server."""

    is_local = True

    def __init__(self, repo: Repository, description: str) -> None:
        self.repo = repo
        self.description = description
        self.counters = Counters()

    @classmethod
    async def open(cls, settings: Settings) -> LocalRemote:
        repo = await Repository.open_dir(settings.store_dir)
        return cls(repo, f"local store {settings.store_dir}")

    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        self.counters.requests += 1
        return await self.repo.missing_chunks(hashes)

    async def upload_pack(
        self, parts: Sequence[bytes | memoryview], what: str, project: str | None = None
    ) -> None:
        async def body() -> AsyncIterator[bytes | memoryview]:
            # Read-only: the pipeline keeps these buffers until this call returns, so
            # the store may batch them (writable views would be written one by one).
            for part in parts:
                yield part.toreadonly() if isinstance(part, memoryview) else part

        self.counters.requests += 1
        self.counters.bytes_sent += sum(len(p) for p in parts)
        await self.repo.put_pack(body(), project=project)

    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]:
        self.counters.requests += 1
        return await self.repo.locate_chunks(hashes)

    async def read_range(
        self, pack: str, offset: int, length: int, what: str, sink: RangeSink
    ) -> None:
        self.counters.requests += 1
        sink.restart()
        # In pieces, as a server's answer arrives: a whole range in one bytes object
        # would hold range_size bytes per range in flight (and pin them while hashed).
        end = offset + length
        while offset < end:
            data = await self.repo.read_pack_range(pack, offset, min(_READ_PIECE, end - offset))
            if not data:
                break  # the pack is shorter: the sink reports the missing chunks
            self.counters.bytes_received += len(data)
            await sink.write(data)
            offset += len(data)
        await sink.finish()

    async def commit(self, req: CommitRequest) -> VersionInfo:
        return await self.repo.commit(req)

    async def upsert_pending(self, req: CommitRequest, distributed_id: str) -> PendingInfo:
        return await self.repo.upsert_pending(req, distributed_id)

    async def finish_pending(
        self, req: CommitRequest, distributed_id: str, token: str
    ) -> VersionInfo:
        return await self.repo.finish_pending(req, distributed_id, token=token)

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        return await self.repo.get_version(project, name, ref)

    async def version_by_id(self, version_id: str) -> VersionInfo:
        return await self.repo.version_by_id(version_id)

    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        return await self.repo.update_version(project, name, ref, changes)

    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        return await self.repo.update_collection(project, name, changes)

    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None:
        return await self.repo.get_retention(project, name)

    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy
    ) -> RetentionPolicy:
        return await self.repo.set_retention(project, name, policy)

    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None:
        return await self.repo.clear_retention(project, name)

    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        return await self.repo.set_alias(project, name, alias, ref)

    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        return await self.repo.remove_alias(project, name, alias)

    async def link_version(
        self, project: str, name: str, ref: str, target: tuple[str, str], aliases: list[str]
    ) -> VersionInfo:
        return await self.repo.link_version(project, name, ref, target, aliases)

    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        return await self.repo.unlink_version(project, name, ref)

    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        return await self.repo.list_links(project, name, ref)

    async def get_manifest(self, project: str, name: str, ref: str) -> Manifest:
        info, blob = await self.repo.get_manifest_blob(project, name, ref)
        return checked_manifest(blob, info.digest)

    async def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        return await self.repo.list_versions(project, name)

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        return await self.repo.list_collections(project)

    async def storage(self, project: str) -> ProjectStorage:
        return await self.repo.storage(project)

    async def quota(self, project: str) -> QuotaUsage | None:
        return await self.repo.meta.quota_usage(project)

    async def access(self, project: str) -> ProjectAccess:
        return ProjectAccess(project, None, "admin")  # the embedded store has no users

    async def record_origin(
        self, project: str, name: str, ref: str, origin: VersionOrigin
    ) -> VersionOrigin:
        return (await self.repo.meta.record_origin(project, name, ref, origin))[0]

    async def list_origins(self, project: str, name: str) -> list[VersionOrigin]:
        return await self.repo.meta.list_origins(project, name)

    async def list_projects(self) -> list[str]:
        return await self.repo.list_projects()

    async def create_run(
        self,
        project: str,
        job_type: str,
        name: str | None,
        config: dict[str, Any],
        run_id: str,
        *,
        group: str | None = None,
        tags: Sequence[str] = (),
        notes: str | None = None,
    ) -> RunInfo:
        return await self.repo.create_run(
            project, job_type, name, config, run_id, group=group, tags=tags, notes=notes
        )

    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        return await self.repo.set_run_config(run_id, config)

    async def finish_run(self, run_id: str, status: str) -> RunInfo:
        return await self.repo.finish_run(run_id, status)

    async def get_run(self, run_id: str) -> RunInfo:
        return await self.repo.get_run(run_id)

    async def use_version(
        self, run_id: str | None, project: str, name: str, ref: str, type: str | None
    ) -> VersionInfo:
        return await self.repo.use_version(run_id, project, name, ref, type)

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        return await self.repo.run_outputs(run_id)

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        return await self.repo.run_inputs(run_id)

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        return await self.repo.version_consumers(project, name, ref)

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        return await self.repo.version_producers(project, name, ref)

    async def close(self) -> None:
        await self.repo.close()

    async def delete_version(
        self, project: str, name: str, ref: str, delete_aliases: bool
    ) -> VersionInfo:
        return await self.repo.delete_version(project, name, ref, delete_aliases=delete_aliases)

    async def delete_collection(
        self, project: str, name: str, delete_aliases: bool
    ) -> list[VersionInfo]:
        return await self.repo.delete_collection(project, name, delete_aliases=delete_aliases)
