"""The repository as one caller may use it: roles checked, answers filtered, actions audited.

The HTTP server builds one :class:`ScopedRepository` per request from the request's
:class:`~asyncart.repo.access.Principal`; every handler goes through it. The rules
(``access.py`` has the roles):

* a project the caller has no role on answers exactly like a project that does not
  exist (404), whatever the operation; a run of such a project like a run that does not
  exist;
* chunk answers (``missing``, ``locate``, pack ranges, commits) cover only chunks the
  caller may see: held by a project it may read, or uploaded by itself
  (docs/protocol.md §6.4);
* lists of projects, lineage runs and run inputs/outputs leave out what the caller may
  not read;
* pushes, pulls, alias moves, changes of a version or a collection, run inputs,
  origins recorded by ``asyncart sync`` and deletions are appended to the audit log.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from typing import Any

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
from asyncart.errors import NotFoundError, PermissionDenied, RunNotFound
from asyncart.repo.access import Principal, Role, no_such_project
from asyncart.repo.audit import AuditEvent, AuditLog
from asyncart.repo.prepared import PreparedCommit
from asyncart.repo.read_audit import RecentPackReads
from asyncart.repo.service import PackReceipt, Repository


class ScopedRepository:
    """:class:`Repository` operations on behalf of ``principal`` (see the module doc)."""

    def __init__(
        self,
        repo: Repository,
        principal: Principal,
        audit: AuditLog,
        request_id: str | None = None,
    ) -> None:
        self.repo = repo
        self.principal = principal
        self._audit = audit
        self._request_id = request_id

    async def _record(
        self,
        action: str,
        project: str | None,
        artifact: str | None = None,
        version: int | None = None,
        **detail: Any,
    ) -> None:
        await self._audit.record(
            AuditEvent(
                action=action,
                user=self.principal.user,
                project=project,
                artifact=artifact,
                version=version,
                detail=detail,
                request_id=self._request_id,
            )
        )

    # -- chunks and packs ---------------------------------------------------------

    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        """Which of ``hashes`` the caller must upload (absent, or not visible to it)."""
        return await self.repo.missing_chunks(hashes, scope=self.principal.chunk_scope())

    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]:
        """Where the chunks the caller may see live."""
        return await self.repo.locate_chunks(hashes, scope=self.principal.chunk_scope())

    # -- checks made before a request body is read ----------------------------------

    def check_may_upload(self, doing: str = "upload") -> None:
        """Raise PermissionDenied unless some grant lets the caller write (checked before
        a pack body, or a body naming its project inside, is read)."""
        if not self.principal.may_write_somewhere():
            raise PermissionDenied(
                f"user {self.principal.user!r} may not {doing}: no project grants it write "
                "access (ask an admin: 'asyncart server admin grant USER PROJECT write')"
            )

    def check_has_grant(self, doing: str) -> None:
        """Raise PermissionDenied for a key with no grant at all (checked before a chunk
        query's body is read: such a key could learn nothing from it)."""
        if self.principal.restricted and not self.principal.grants:
            raise PermissionDenied(
                f"user {self.principal.user!r} may not {doing}: it has no grant on any "
                "project (ask an admin: 'asyncart server admin grant USER PROJECT read')"
            )

    def require(self, project: str, role: Role, doing: str) -> None:
        """Raise unless the caller has ``role`` on ``project`` (404 with no role at all)."""
        self.principal.require(project, role, doing)

    async def require_run(self, run_id: str, role: Role, doing: str) -> None:
        """Raise unless the caller has ``role`` on the run's project (a run it may not see
        answers like a run that does not exist)."""
        await self._run_of(run_id, role, doing)

    def _require_upload(self, project: str | None) -> None:
        """Write access to the project an upload is for (404 without any role on it);
        an upload naming none: write access somewhere (docs/quotas.md)."""
        if project is None:
            self.check_may_upload()
        else:
            self.principal.require(project, Role.WRITE, "uploading packs")

    async def check_upload(self, project: str | None, declared: int | None = None) -> bool:
        """Before a pack upload's body is read: the caller may write to ``project`` (the
        project the upload is for), and a body of ``declared`` bytes can fit its quota.
        Returns whether the project has a quota.

        Raises:
            PermissionDenied / NotFoundError: no write access to ``project``.
            QuotaExceeded: the project is full.
            ConfigError: no project named, on a store with quotas.
        """
        self._require_upload(project)
        return await self.repo.check_upload(project, declared)

    async def put_pack(
        self,
        body: AsyncIterable[bytes | memoryview],
        project: str | None = None,
        *,
        reserve: bool = True,
    ) -> PackReceipt:
        """Store an uploaded pack for ``project``, recording the caller as the uploader of
        its chunks (``reserve``: see :meth:`Repository.put_pack`)."""
        self._require_upload(project)
        return await self.repo.put_pack(
            body, scope=self.principal.chunk_scope(), project=project, reserve=reserve
        )

    async def pack_urls(self, pack_ids: Sequence[str]) -> dict[str, str]:
        """Presigned URLs of the packs whose every byte the caller may read."""
        return await self.repo.pack_urls(pack_ids, self.principal.chunk_scope())

    async def begin_direct_upload(
        self, header: bytes, project: str | None = None
    ) -> tuple[str, str] | None:
        """A presigned upload target for a pack's bytes (write access to ``project``)."""
        self._require_upload(project)
        return await self.repo.begin_direct_upload(header, project=project)

    async def complete_direct_upload(
        self, header: bytes, key: str, project: str | None = None
    ) -> PackReceipt:
        """Verify and record a directly uploaded pack, as the caller's upload for
        ``project``."""
        self._require_upload(project)
        return await self.repo.complete_direct_upload(
            header, key, scope=self.principal.chunk_scope(), project=project
        )

    async def check_pack_range(self, pack_id: str, start: int, end: int) -> None:
        """Raise NotFoundError unless the caller may read bytes ``[start, end)`` of a pack
        (every byte belongs to a chunk it may see)."""
        scope = self.principal.chunk_scope()
        if scope is not None and not await self.repo.range_visible(pack_id, start, end, scope):
            raise NotFoundError(f"pack {pack_id} is not in the store")

    async def audit_pack_read(
        self, pack_id: str, first: int, last: int, recent: RecentPackReads
    ) -> None:
        """Audit a checked range read of a pack that also holds chunks of projects the
        caller may not read (``pack_read``, one event per project such chunks belong to,
        at most once per user and pack per window of ``recent``)."""
        scope = self.principal.chunk_scope()
        user = self.principal.user
        if scope is None or user is None or recent.seen_recently(user, pack_id):
            return
        recent.remember(user, pack_id)
        if await self.repo.meta.pack_visible(pack_id, scope):
            return
        foreign: list[str | None] = [*await self.repo.meta.foreign_holders(pack_id, scope)]
        for project in foreign or [None]:  # None: chunks nobody the caller knows holds
            await self._record("pack_read", project, pack=pack_id, first=first, last=last)

    # -- projects, artifacts, versions ----------------------------------------------

    async def list_projects(self) -> list[str]:
        """The projects the caller may read."""
        names = await self.repo.list_projects()
        return [p for p in names if self.principal.can(p, Role.READ)]

    async def version_by_id(self, version_id: str) -> VersionInfo:
        """The version with that ``artifact.id`` among the projects the caller may read."""
        return await self.repo.version_by_id(version_id, self.principal.readable())

    def access(self, project: str) -> ProjectAccess:
        """What the caller may do in ``project``: any role answers (whether or not the
        project exists yet: a grant may precede it); none answers like a project that
        does not exist (404), so the answer reveals no more than the other routes."""
        role = self.principal.role(project)
        if role is None:
            raise no_such_project(project)
        return ProjectAccess(project, self.principal.user, role.label)

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        self.principal.require(project, Role.READ, "listing artifacts")
        return await self.repo.list_collections(project)

    async def quota_usage(self, project: str, new_bytes: int = 0) -> QuotaUsage:
        """The project's quota and usage (read access: its own deduplicated bytes, as in
        :meth:`storage`), having checked ``new_bytes`` more fit (docs/quotas.md).

        Raises:
            QuotaExceeded: they do not.
        """
        self.principal.require(project, Role.READ, "reading the quota")
        return await self.repo.meta.quota_usage(project, new_bytes)

    async def storage(self, project: str) -> ProjectStorage:
        """What the project's versions cost (read access); "held by no other version"
        store-wide only for a caller who may read every project."""
        self.principal.require(project, Role.READ, "reading storage figures")
        return await self.repo.storage(project, store_wide=self.principal.readable() is None)

    async def list_versions(
        self, project: str, name: str, *, after: int | None = None, limit: int | None = None
    ) -> list[VersionInfo]:
        self.principal.require(project, Role.READ, "listing versions")
        return await self.repo.list_versions(project, name, after=after, limit=limit)

    async def commit(self, req: CommitRequest | PreparedCommit) -> VersionInfo:
        """Commit a version (write access; every chunk visible to the caller)."""
        self.principal.require(req.project, Role.WRITE, "pushing an artifact")
        if req.run_id is not None:
            await self._run_of(req.run_id, Role.WRITE, "logging an artifact from a run")
        info = await self.repo.commit(req, scope=self.principal.chunk_scope())
        await self._record(
            "push" if info.created else "alias",
            info.project,
            info.name,
            info.index,
            aliases=list(info.aliases),
            digest=info.digest,
            size=info.size,
        )
        return info

    async def upsert_pending(
        self, req: CommitRequest | PreparedCommit, distributed_id: str
    ) -> PendingInfo:
        """Add a part to a distributed version (write access, as a commit)."""
        self.principal.require(req.project, Role.WRITE, "adding to a distributed artifact")
        if req.run_id is not None:
            await self._run_of(req.run_id, Role.WRITE, "logging an artifact from a run")
        return await self.repo.upsert_pending(
            req, distributed_id, scope=self.principal.chunk_scope()
        )

    async def finish_pending(
        self, req: CommitRequest | PreparedCommit, distributed_id: str, token: str | None
    ) -> VersionInfo:
        """Commit a distributed version (write access, as a commit; audited as a push)."""
        self.principal.require(req.project, Role.WRITE, "finishing a distributed artifact")
        if req.run_id is not None:
            await self._run_of(req.run_id, Role.WRITE, "logging an artifact from a run")
        info = await self.repo.finish_pending(
            req, distributed_id, token=token, scope=self.principal.chunk_scope()
        )
        await self._record(
            "push" if info.created else "alias",
            info.project,
            info.name,
            info.index,
            aliases=list(info.aliases),
            digest=info.digest,
            size=info.size,
        )
        return info

    async def get_version(self, project: str, name: str, ref: str, type: str | None) -> VersionInfo:
        self.principal.require(project, Role.READ, "reading an artifact")
        return await self.repo.use_version(None, project, name, ref, type)

    async def get_manifest_blob(
        self, project: str, name: str, ref: str
    ) -> tuple[VersionInfo, bytes]:
        """A version's manifest (the start of a pull: audited as ``pull``)."""
        self.principal.require(project, Role.READ, "downloading an artifact")
        info, blob = await self.repo.get_manifest_blob(project, name, ref)
        await self._record("pull", project, name, info.index, ref=ref)
        return info, blob

    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        """Change a version's description, metadata, ttl or tags (write access; for a
        link, whose values are its source's, write access to the source's project too)."""
        self.principal.require(project, Role.WRITE, "changing a version")
        source = (await self.repo.get_version(project, name, ref)).source
        if source is not None:
            self.principal.require(source.project, Role.WRITE, "changing a link's source")
        info = await self.repo.update_version(project, name, ref, changes)
        changed = [
            field
            for field, on in (
                ("description", changes.set_description),
                ("metadata", changes.metadata is not None),
                ("ttl", changes.set_ttl),
            )
            if on
        ]
        await self._record(
            "update",
            project,
            name,
            info.index,
            changed=changed,
            tags_added=list(changes.tags_add),
            tags_removed=list(changes.tags_remove),
        )
        return info

    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        """Rename, retype, describe or tag a collection (write access)."""
        self.principal.require(project, Role.WRITE, "changing an artifact collection")
        info = await self.repo.update_collection(project, name, changes)
        await self._record(
            "update",
            project,
            name,
            None,
            changed=changes.changed_fields,
            new_name=changes.name,
            new_type=changes.type,
            tags_added=list(changes.tags_add),
            tags_removed=list(changes.tags_remove),
        )
        return info

    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        """Move ``alias`` onto version ``ref`` (write access)."""
        self.principal.require(project, Role.WRITE, "moving an alias")
        info = await self.repo.set_alias(project, name, alias, ref)
        await self._record("update", project, name, info.index, alias_set=alias)
        return info

    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        """Remove ``alias`` (write access)."""
        self.principal.require(project, Role.WRITE, "removing an alias")
        info = await self.repo.remove_alias(project, name, alias)
        await self._record("update", project, name, info.index, alias_removed=alias)
        return info

    async def link_version(
        self, project: str, name: str, ref: str, target: tuple[str, str], aliases: list[str]
    ) -> VersionInfo:
        """Link a version into ``target`` (project, collection): read access to the
        source's project and write access to the target's."""
        self.principal.require(project, Role.READ, "linking an artifact")
        self.principal.require(target[0], Role.WRITE, "linking into a project")
        info = await self.repo.link_version(project, name, ref, target, aliases)
        await self._record(
            "link",
            info.project,
            info.name,
            info.index,
            source=f"{project}/{name}:{ref}",
            aliases=list(info.aliases),
        )
        return info

    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Remove a link (write access to its project; its source stays)."""
        self.principal.require(project, Role.WRITE, "unlinking an artifact")
        info = await self.repo.unlink_version(project, name, ref)
        source = info.source.qualified_name if info.source else None
        await self._record("unlink", project, name, info.index, source=source)
        return info

    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        """The links of a version that the caller may read."""
        self.principal.require(project, Role.READ, "listing links")
        found = await self.repo.list_links(project, name, ref)
        return [v for v in found if self.principal.can(v.project, Role.READ)]

    async def record_origin(
        self, project: str, name: str, ref: str, origin: VersionOrigin
    ) -> tuple[VersionOrigin, bool]:
        """Record where a version came from (write access); the origin as stored and
        whether it is new (a new one is audited as ``sync``, naming the source)."""
        self.principal.require(project, Role.WRITE, "recording where a version came from")
        done, added = await self.repo.meta.record_origin(
            project, name, ref, origin, self.principal.user
        )
        if added:
            await self._record(
                "sync",
                project,
                name,
                done.index,
                source_store=done.source_store,
                source=done.source_ref,
                source_digest=done.source_digest,
            )
        return done, added

    async def list_origins(self, project: str, name: str) -> list[VersionOrigin]:
        """Where the collection's synced versions came from (read access)."""
        self.principal.require(project, Role.READ, "reading where versions came from")
        return await self.repo.meta.list_origins(project, name)

    async def delete_version(
        self, project: str, name: str, ref: str, *, delete_aliases: bool
    ) -> VersionInfo:
        self.principal.require(project, Role.ADMIN, "deleting a version")
        info = await self.repo.delete_version(project, name, ref, delete_aliases=delete_aliases)
        await self._record("delete", project, name, info.index, aliases=list(info.aliases))
        return info

    async def delete_collection(
        self, project: str, name: str, *, delete_aliases: bool
    ) -> list[VersionInfo]:
        self.principal.require(project, Role.ADMIN, "deleting an artifact")
        gone = await self.repo.delete_collection(project, name, delete_aliases=delete_aliases)
        await self._record(
            "delete",
            project,
            name,
            None,
            versions=[v.version for v in gone],
            aliases=sorted({a for v in gone for a in v.aliases}),
        )
        return gone

    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """The collection's retention policy (read access)."""
        self.principal.require(project, Role.READ, "reading a retention policy")
        return await self.repo.get_retention(project, name)

    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy
    ) -> RetentionPolicy:
        """Set the collection's retention policy (admin access: it deletes versions)."""
        self.principal.require(project, Role.ADMIN, "setting a retention policy")
        done = await self.repo.set_retention(project, name, policy, user=self.principal.user)
        await self._record("update", project, name, None, retention=done.to_json())
        return done

    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """Remove the collection's retention policy (admin access)."""
        self.principal.require(project, Role.ADMIN, "clearing a retention policy")
        old = await self.repo.clear_retention(project, name)
        await self._record("update", project, name, None, retention=None)
        return old

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        self.principal.require(project, Role.READ, "reading lineage")
        runs = await self.repo.version_consumers(project, name, ref)
        return [r for r in runs if self.principal.can(r.project, Role.READ)]

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        self.principal.require(project, Role.READ, "reading lineage")
        runs = await self.repo.version_producers(project, name, ref)
        return [r for r in runs if self.principal.can(r.project, Role.READ)]

    async def audit_events(
        self, project: str, *, limit: int, before_id: int | None
    ) -> list[AuditEvent]:
        """The project's audit log, newest first (admin access)."""
        self.principal.require(project, Role.ADMIN, "reading the audit log")
        return await self._audit.query(project=project, limit=limit, before_id=before_id)

    # -- runs -------------------------------------------------------------------------

    async def _run_of(self, run_id: str, role: Role, doing: str) -> RunInfo:
        """The run, if the caller has ``role`` on its project; a run of a project it may
        not see answers like a run that does not exist."""
        run = await self.repo.get_run(run_id)
        if self.principal.role(run.project) is None:
            raise RunNotFound.for_id(run_id)
        self.principal.require(run.project, role, doing)
        return run

    async def create_run(
        self,
        project: str,
        job_type: str,
        name: str | None,
        config: dict[str, Any],
        run_id: str | None,
        *,
        group: str | None = None,
        tags: Sequence[str] = (),
        notes: str | None = None,
    ) -> RunInfo:
        self.principal.require(project, Role.WRITE, "starting a run")
        return await self.repo.create_run(
            project=project,
            job_type=job_type,
            name=name,
            config=config,
            run_id=run_id,
            group=group,
            tags=tags,
            notes=notes,
        )

    async def get_run(self, run_id: str) -> RunInfo:
        return await self._run_of(run_id, Role.READ, "reading a run")

    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        await self._run_of(run_id, Role.WRITE, "changing a run's config")
        return await self.repo.set_run_config(run_id, config)

    async def finish_run(self, run_id: str, status: str) -> RunInfo:
        await self._run_of(run_id, Role.WRITE, "finishing a run")
        return await self.repo.finish_run(run_id, status)

    async def use_version(
        self, run_id: str, project: str, name: str, ref: str, type: str | None
    ) -> VersionInfo:
        """Record a version as a run's input (write on the run's project, read on the
        version's)."""
        await self._run_of(run_id, Role.WRITE, "recording a run's input")
        self.principal.require(project, Role.READ, "using an artifact")
        info = await self.repo.use_version(run_id, project, name, ref, type)
        await self._record("use", project, name, info.index, run=run_id)
        return info

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        await self._run_of(run_id, Role.READ, "reading a run")
        found = await self.repo.run_inputs(run_id)
        return [v for v in found if self.principal.can(v.project, Role.READ)]

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        await self._run_of(run_id, Role.READ, "reading a run")
        found = await self.repo.run_outputs(run_id)
        return [v for v in found if self.principal.can(v.project, Role.READ)]
