"""The HTTP adapter: ``HttpRemote``, the :class:`Remote` of a store behind ``asyncart server``.

Each call is one route of docs/protocol.md through :class:`HttpTransport` (retries,
timeouts, error mapping); every answer is decoded into its record (``answers.py``) and
checked against the request (``answer_checks.py``). Pack bytes go straight to the
server's object store when it offers that (``direct_transfer.py``), else through it.
Hash queries go in batches of :data:`QUERY_BATCH`.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from asyncart.client import answers as A
from asyncart.client.answer_checks import (
    check_missing,
    check_next_cursor,
    check_range_answer,
    check_range_received,
    check_receipt,
    served_manifest,
)
from asyncart.client.blocking_reads import BlockingReads, Unreachable
from asyncart.client.connectors import ConnectorFactory, tcp_connector
from asyncart.client.direct_transfer import DirectTransfer
from asyncart.client.http_errors import MAX_ERROR_BODY, DirectTransferError
from asyncart.client.remote import BlockingRangeSink, RangeSink, Remote
from asyncart.client.storage_answers import ProjectStorageAnswer, QuotaAnswer
from asyncart.client.sync_answers import AccessAnswer, OriginAnswer, OriginList
from asyncart.client.transport import HttpTransport, PartsPayload, read_bounded
from asyncart.config import Settings
from asyncart.core import protocol as P
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
from asyncart.errors import (
    CertificateError,
    ConnectError,
    NotFoundError,
    ServerError,
)

QUERY_BATCH = P.CLIENT_QUERY_HASHES
T = TypeVar("T")
PageT = TypeVar("PageT", bound=A.Page)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    await read_bounded(resp, MAX_ERROR_BODY, "the object store's answer to an upload")


class HttpRemote(Remote):
    """A store behind ``asyncart server``."""

    def __init__(self, settings: Settings, *, connector: ConnectorFactory = tcp_connector) -> None:
        self.http = HttpTransport(settings, connector=connector)
        self.counters = self.http.counters
        self.description = f"server {self.http.base_url}"
        self._direct = DirectTransfer(enabled=settings.direct_transfer)
        self._threads: BlockingReads | None = None
        if settings.thread_reads and self.http.uses_tcp:
            self._threads = BlockingReads(
                settings,
                self.http.base_url,
                self.http.request_headers(),
                self.http.auth_context,
                self.counters,
            )

    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(hashes), QUERY_BATCH):
            asked = list(hashes[i : i + QUERY_BATCH])
            answer = await self.http.answer(
                "POST", P.CHUNKS_MISSING, A.MissingAnswer, {"hashes": asked}, what="missing answer"
            )
            self._direct.offered(answer.direct)
            check_missing(answer.missing, asked, self.description)
            out += answer.missing
        return out

    async def upload_pack(
        self, parts: Sequence[bytes | memoryview], what: str, project: str | None = None
    ) -> None:
        query = "" if project is None else "?" + urlencode({P.PROJECT_PARAM: project})
        if self._direct.uploads and await self._upload_direct(parts, what, query):
            return
        payload = PartsPayload(parts, P.PACK_MEDIA_TYPE)
        receipt = await self.http.answer(
            "POST",
            P.PACKS + query,
            A.PackReceipt,
            body=payload,
            what="pack receipt",
            doing=f"upload of {what}",
        )
        check_receipt(receipt, parts, self.description)

    async def _upload_direct(
        self, parts: Sequence[bytes | memoryview], what: str, query: str
    ) -> bool:
        """Upload a pack's bytes straight to the object store, then have the server verify
        and record them (docs/protocol.md §3.10; ``query`` names the project). False: not
        offered, use the server."""
        header = base64.b64encode(bytes(parts[0])).decode("ascii")
        offer = await self._offer(
            P.PACKS_DIRECT + query, {"header": header}, A.DirectUploadOffer, "direct upload offer"
        )
        if offer is None or offer.url is None or offer.key is None:
            self._direct.uploads = False  # this server does not offer it: never ask again
            return False
        data = parts[1:]
        try:
            await self.http.call_direct(
                "PUT",
                offer.url,
                _drain,
                body=PartsPayload(data, "application/octet-stream"),
                what=f"direct upload of {what}",
            )
        except (DirectTransferError, ConnectError, CertificateError) as exc:
            self._direct.give_up(f"uploads to the object store failed ({exc})")
            return False
        receipt = await self.http.answer(
            "POST",
            P.PACKS_DIRECT_COMPLETE + query,
            A.PackReceipt,
            {"header": header, "key": offer.key},
            what="pack receipt",
            doing=f"verification of {what}",
        )
        check_receipt(receipt, parts, self.description)
        return True

    async def _offer(self, path: str, body: dict[str, Any], record: type[T], what: str) -> T | None:
        """POST to a direct-transfer route; None from a server that has no such route (an
        older asyncart, or another implementation of the protocol)."""
        try:
            return await self.http.answer("POST", path, record, body, what=what)
        except (NotFoundError, ServerError) as exc:
            if getattr(exc, "status", 404) in (404, 405):
                return None
            raise

    async def prepare_reads(self, packs: Sequence[str]) -> None:
        """Ask for presigned URLs of the packs a pull will read (when the server offers
        direct transfer); ranges of the others go through the server."""
        if not self._direct.downloads:
            return
        wanted = [p for p in dict.fromkeys(packs) if p not in self._direct.urls]
        for i in range(0, len(wanted), P.MAX_PACK_URLS):
            asked = wanted[i : i + P.MAX_PACK_URLS]
            answer = await self._offer(P.PACK_URLS, {"packs": asked}, A.PackUrls, "pack URLs")
            if answer is None or not answer.offered:
                self._direct.downloads = False  # not offered by this server
                return
            self._direct.urls.update({k: v for k, v in answer.urls.items() if k in asked})

    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]:
        out: dict[str, ChunkLocation] = {}
        for i in range(0, len(hashes), QUERY_BATCH):
            body = {"hashes": list(hashes[i : i + QUERY_BATCH])}
            answer = await self.http.answer(
                "POST", P.CHUNKS_LOCATE, A.LocateAnswer, body, what="locate answer"
            )
            self._direct.offered(answer.direct)
            out.update(answer.chunk_locations())
        return out

    async def read_range(
        self, pack: str, offset: int, length: int, what: str, sink: RangeSink
    ) -> None:
        rng = {"Range": f"bytes={offset}-{offset + length - 1}"}
        url = self._direct.urls.get(pack) if self._direct.downloads else None
        if url is not None:
            try:
                await self.http.call_direct(
                    "GET",
                    url,
                    self._range_reader(pack, length, sink),
                    headers=rng,
                    what=f"direct {what}",
                )
                return
            except (DirectTransferError, ConnectError, CertificateError) as exc:
                self._direct.give_up(f"reads from the object store failed ({exc})")
        threads = self._threads
        if threads is not None and threads.usable and isinstance(sink, BlockingRangeSink):
            try:
                await threads.read_range(pack, offset, length, what, sink)
                return
            except Unreachable:
                pass  # the aiohttp path says what is wrong, or finds the server back
        await self.http.call(
            "GET",
            P.path(P.PACK, pack=pack),
            self._range_reader(pack, length, sink),
            headers=rng,
            what=what,
        )

    def _range_reader(
        self, pack: str, length: int, sink: RangeSink
    ) -> Callable[[aiohttp.ClientResponse], Awaitable[None]]:
        async def read(resp: aiohttp.ClientResponse) -> None:
            check_range_answer(pack, resp.status, resp.content_length, length)
            sink.restart()
            received = 0
            # iter_chunks yields the buffers as received: no joining into one bytes object.
            async for data, _ in resp.content.iter_chunks():
                received += len(data)
                await sink.write(data)
            self.http.counters.bytes_received += received
            check_range_received(pack, received, length)
            await sink.finish()

        return read

    async def commit(self, req: CommitRequest) -> VersionInfo:
        path = P.path(P.VERSIONS, project=req.project, name=req.name)
        return (await self._version("POST", path, _commit_body(req))).info()

    async def upsert_pending(self, req: CommitRequest, distributed_id: str) -> PendingInfo:
        path = P.path(P.PENDING, project=req.project, name=req.name)
        path += "?" + urlencode({"distributed_id": distributed_id})
        answer = await self.http.answer(
            "POST", path, A.PendingAnswer, _commit_body(req), what="pending version"
        )
        return answer.info()

    async def finish_pending(
        self, req: CommitRequest, distributed_id: str, token: str
    ) -> VersionInfo:
        path = P.path(P.PENDING_FINISH, project=req.project, name=req.name)
        path += "?" + urlencode({"distributed_id": distributed_id, "token": token})
        return (await self._version("POST", path, _commit_body(req))).info()

    async def _version(self, method: str, path: str, body: Any = None) -> A.VersionAnswer:
        return await self.http.answer(method, path, A.VersionAnswer, body, what="version")

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        path = P.path(P.VERSION, project=project, name=name, ref=ref)
        return (await self._version("GET", path)).info()

    async def version_by_id(self, version_id: str) -> VersionInfo:
        path = P.path(P.VERSION_BY_ID, version_id=version_id)
        return (await self._version("GET", path)).info()

    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        body: dict[str, Any] = {
            "tags_add": list(changes.tags_add),
            "tags_remove": list(changes.tags_remove),
        }
        if changes.set_description:
            body["description"] = changes.description
        if changes.metadata is not None:
            body["metadata"] = changes.metadata
        if changes.set_ttl:
            body["ttl"] = changes.ttl
        path = P.path(P.VERSION, project=project, name=name, ref=ref)
        return (await self._version("PATCH", path, body)).info()

    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        body: dict[str, Any] = {
            "tags_add": list(changes.tags_add),
            "tags_remove": list(changes.tags_remove),
        }
        if changes.name is not None:
            body["name"] = changes.name
        if changes.type is not None:
            body["type"] = changes.type
        if changes.set_description:
            body["description"] = changes.description
        path = P.path(P.COLLECTION, project=project, name=name)
        answer = await self.http.answer(
            "PATCH", path, A.CollectionAnswer, body, what="artifact collection"
        )
        return answer.info()

    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None:
        return await self._retention("GET", project, name)

    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy
    ) -> RetentionPolicy:
        answer = await self._retention("PUT", project, name, policy.to_json())
        assert answer is not None  # RetentionAnswer: a PUT answers with a policy
        return answer

    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None:
        return await self._retention("DELETE", project, name)

    async def _retention(
        self, method: str, project: str, name: str, body: dict[str, Any] | None = None
    ) -> RetentionPolicy | None:
        path = P.path(P.RETENTION, project=project, name=name)
        answer = await self.http.answer(
            method, path, A.RetentionAnswer, body, what="retention policy"
        )
        if method == "PUT" and answer.policy is None:
            raise A.MalformedAnswer("the server answered a retention update with no policy")
        return answer.retention()

    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        path = P.path(P.ALIAS, project=project, name=name, alias=alias)
        return (await self._version("PUT", path, {"version": ref})).info()

    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        path = P.path(P.ALIAS, project=project, name=name, alias=alias)
        return (await self._version("DELETE", path)).info()

    async def link_version(
        self, project: str, name: str, ref: str, target: tuple[str, str], aliases: list[str]
    ) -> VersionInfo:
        path = P.path(P.LINKS, project=project, name=name, ref=ref)
        body = {"project": target[0], "name": target[1], "aliases": list(aliases)}
        return (await self._version("POST", path, body)).info()

    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        path = P.path(P.UNLINK, project=project, name=name, ref=ref)
        return (await self._version("POST", path)).info()

    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        return await self._versions(P.path(P.LINKS, project=project, name=name, ref=ref))

    async def get_manifest(self, project: str, name: str, ref: str) -> Manifest:
        async def read(resp: aiohttp.ClientResponse) -> tuple[bytearray, A.VersionHeader]:
            header = A.decode(
                resp.headers.get(P.VERSION_INFO_HEADER, "{}").encode(),
                A.VersionHeader,
                f"{P.VERSION_INFO_HEADER} header",
                self.description,
            )
            blob = await read_bounded(resp, P.MAX_MANIFEST_BODY, "the manifest")
            self.http.counters.bytes_received += len(blob)
            return blob, header

        path = P.path(P.MANIFEST, project=project, name=name, ref=ref)
        blob, header = await self.http.call("GET", path, read)
        return served_manifest(blob, header.digest, self.description, f"{project}/{name}:{ref}")

    async def _pages(self, path: str, record: type[PageT], what: str) -> list[PageT]:
        """Every page of a paginated list answer (docs/protocol.md §3.6), following
        ``next`` until it is null or absent (a server from before pagination)."""
        pages: list[PageT] = []
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            query = "" if cursor is None else "?" + urlencode({"cursor": cursor})
            page = await self.http.answer("GET", path + query, record, what=what)
            pages.append(page)
            cursor = page.next
            if cursor is None:
                return pages
            check_next_cursor(cursor, seen, self.description, what)

    async def _versions(self, path: str) -> list[VersionInfo]:
        pages = await self._pages(path, A.VersionList, "version list")
        return [v.info() for page in pages for v in page.versions]

    async def _runs(self, path: str) -> list[RunInfo]:
        pages = await self._pages(path, A.RunList, "run list")
        return [r.info() for page in pages for r in page.runs]

    async def _run(self, path: str, body: Any) -> RunInfo:
        return (await self.http.answer("POST", path, A.RunAnswer, body, what="run")).info()

    async def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        return await self._versions(P.path(P.VERSIONS, project=project, name=name))

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        path = P.path(P.COLLECTIONS, project=project)
        pages = await self._pages(path, A.CollectionList, "collection list")
        return [c.info() for page in pages for c in page.collections]

    async def check_quota(self, project: str, new_bytes: int) -> int | None:
        path = P.path(P.QUOTA, project=project) + f"?new_bytes={new_bytes}"
        answer = await self.http.answer("GET", path, QuotaAnswer, what="quota")
        if answer.quota_bytes is None:
            return None
        return max(0, answer.quota_bytes - answer.stored_bytes)

    async def quota(self, project: str) -> QuotaUsage | None:
        path = P.path(P.QUOTA, project=project)
        try:
            answer = await self.http.answer("GET", path, QuotaAnswer, what="quota")
        except (NotFoundError, ServerError) as exc:  # a server older than the route
            if getattr(exc, "status", 404) == 404:
                return None
            raise
        return QuotaUsage(
            answer.project, answer.quota_bytes, answer.stored_bytes, answer.pending_bytes
        )

    async def access(self, project: str) -> ProjectAccess | None:
        path = P.path(P.ACCESS, project=project)
        try:
            answer = await self.http.answer("GET", path, AccessAnswer, what="access answer")
        except (NotFoundError, ServerError) as exc:
            if _no_such_route(exc):
                return None
            raise
        if answer.project != project:
            raise A.MalformedAnswer(
                f"{self.description} answered the access of project {answer.project!r} "
                f"when asked for {project!r}"
            )
        return answer.access()

    async def record_origin(
        self, project: str, name: str, ref: str, origin: VersionOrigin
    ) -> VersionOrigin | None:
        path = P.path(P.ORIGIN, project=project, name=name, ref=ref)
        body = {
            "source_store": origin.source_store,
            "source_project": origin.source_project,
            "source_name": origin.source_name,
            "source_index": origin.source_index,
            "source_digest": origin.source_digest,
        }
        try:
            answer = await self.http.answer("PUT", path, OriginAnswer, body, what="origin")
        except (NotFoundError, ServerError) as exc:
            if _no_such_route(exc):
                return None
            raise
        return answer.origin()

    async def list_origins(self, project: str, name: str) -> list[VersionOrigin] | None:
        path = P.path(P.ORIGINS, project=project, name=name)
        try:
            pages = await self._pages(path, OriginList, "origin list")
        except (NotFoundError, ServerError) as exc:
            if _no_such_route(exc):
                return None
            raise
        return [o.origin() for page in pages for o in page.origins]

    async def storage(self, project: str) -> ProjectStorage:
        path = P.path(P.STORAGE, project=project)
        answer = await self.http.answer("GET", path, ProjectStorageAnswer, what="storage figures")
        return answer.storage()

    async def list_projects(self) -> list[str]:
        pages = await self._pages(P.PROJECTS, A.ProjectList, "project list")
        return [p for page in pages for p in page.projects]

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
        body = {
            "id": run_id,
            "project": project,
            "job_type": job_type,
            "name": name,
            "config": config,
            "group": group,
            "tags": list(tags),
            "notes": notes,
        }
        return await self._run(P.RUNS, body)

    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        path = P.path(P.RUN_CONFIG, run_id=run_id)
        body = {"config": config}
        return (await self.http.answer("PUT", path, A.RunAnswer, body, what="run")).info()

    async def finish_run(self, run_id: str, status: str) -> RunInfo:
        return await self._run(P.path(P.RUN_FINISH, run_id=run_id), {"status": status})

    async def get_run(self, run_id: str) -> RunInfo:
        path = P.path(P.RUN, run_id=run_id)
        return (await self.http.answer("GET", path, A.RunAnswer, what="run")).info()

    async def use_version(
        self, run_id: str | None, project: str, name: str, ref: str, type: str | None
    ) -> VersionInfo:
        if run_id is None:
            path = P.path(P.VERSION, project=project, name=name, ref=ref)
            if type is not None:
                path += "?" + urlencode({"type": type})
            return (await self._version("GET", path)).info()
        body = {"project": project, "name": name, "ref": ref, "type": type}
        path = P.path(P.RUN_INPUTS, run_id=run_id)
        return (await self._version("POST", path, body)).info()

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        return await self._versions(P.path(P.RUN_OUTPUTS, run_id=run_id))

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        return await self._versions(P.path(P.RUN_INPUTS, run_id=run_id))

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        return await self._runs(P.path(P.VERSION_CONSUMERS, project=project, name=name, ref=ref))

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        return await self._runs(P.path(P.VERSION_PRODUCERS, project=project, name=name, ref=ref))

    async def close(self) -> None:
        if self._threads is not None:
            self._threads.close()
        await self.http.close()

    async def delete_version(
        self, project: str, name: str, ref: str, delete_aliases: bool
    ) -> VersionInfo:
        path = P.path(P.VERSION, project=project, name=name, ref=ref)
        path += "?" + urlencode({P.DELETE_ALIASES_PARAM: str(delete_aliases).lower()})
        return (await self._version("DELETE", path)).info()

    async def delete_collection(
        self, project: str, name: str, delete_aliases: bool
    ) -> list[VersionInfo]:
        path = P.path(P.COLLECTION, project=project, name=name)
        path += "?" + urlencode({P.DELETE_ALIASES_PARAM: str(delete_aliases).lower()})
        data = await self.http.answer("DELETE", path, A.VersionList, what="deleted versions")
        return [v.info() for v in data.versions]


def _commit_body(req: CommitRequest) -> dict[str, Any]:
    """A commit body (docs/protocol.md §3.6); the distributed routes take it too."""
    return {
        "type": req.type,
        "manifest": req.manifest.to_json(),
        "aliases": list(req.aliases),
        "metadata": req.metadata,
        "description": req.description,
        "run_id": req.run_id,
    }


def _no_such_route(exc: NotFoundError | ServerError) -> bool:
    """Whether a 404 is a server's answer for a route it does not have (an older server),
    not one of the API's own 'not found' answers."""
    return getattr(exc, "status", 404) == 404 and getattr(exc, "code", None) == "http_error"
