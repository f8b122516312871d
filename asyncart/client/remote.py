"""Where the engine sends its requests: ``HttpRemote`` (a server) or ``LocalRemote`` (in-process,
in ``local.py``).

Both expose the same coroutines, so the upload and download pipelines are
written once. ``LocalRemote`` is the embedded default: the repository code the
server runs, called directly on a store directory.
"""

from __future__ import annotations

import base64
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import blake3

from asyncart.client import answers as A
from asyncart.client.answers import MalformedAnswer
from asyncart.client.http_errors import MAX_ERROR_BODY, DirectTransferError
from asyncart.client.transport import Counters, HttpTransport, PartsPayload, read_bounded
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest, ManifestTooLarge
from asyncart.core.models import (
    ChunkLocation,
    CollectionInfo,
    CommitRequest,
    RunInfo,
    VersionInfo,
)
from asyncart.errors import (
    CertificateError,
    ConfigError,
    ConnectError,
    IntegrityError,
    NotFoundError,
    ProtocolError,
    ServerError,
)

QUERY_BATCH = P.CLIENT_QUERY_HASHES
T = TypeVar("T")
PageT = TypeVar("PageT", bound=A.Page)
log = logging.getLogger("asyncart.client")


async def _drain(resp: aiohttp.ClientResponse) -> None:
    await read_bounded(resp, MAX_ERROR_BODY, "the object store's answer to an upload")


@dataclass
class DirectTransfer:
    """What this client knows about transferring straight to the server's object store.

    Both directions start enabled (unless ``ASYNCART_DIRECT_TRANSFER=0``) and switch off
    for the rest of the session once a ``missing``/``locate`` answer says the server does
    not offer them, or the first time the object store cannot be used from here (the
    server path always works).
    """

    enabled: bool
    uploads: bool = True
    downloads: bool = True
    urls: dict[str, str] = field(default_factory=dict)  # pack id -> presigned GET URL

    def __post_init__(self) -> None:
        self.uploads = self.downloads = self.enabled

    def offered(self, direct: bool) -> None:
        """Learn from a ``missing``/``locate`` answer whether the server offers direct
        transfer (``"direct": true``; absent from older servers: not offered)."""
        if not direct:
            self.uploads = self.downloads = False

    def give_up(self, why: str) -> None:
        if self.uploads or self.downloads:
            log.warning("direct transfer switched off, using the server instead: %s", why)
        self.uploads = self.downloads = False
        self.urls.clear()


class RangeSink(ABC):
    """Where the bytes of a ranged read go, as they arrive."""

    @abstractmethod
    def restart(self) -> None:
        """An attempt begins: bytes come again from the range's first byte."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Take the next bytes of the range."""

    @abstractmethod
    async def finish(self) -> None:
        """Every byte of the range has arrived."""


class Remote(ABC):
    """The store operations the client engine needs."""

    counters: Counters
    description: str

    @abstractmethod
    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]: ...

    @abstractmethod
    async def upload_pack(self, parts: Sequence[bytes | memoryview], what: str) -> None:
        """Send one pack body (header + chunk bytes)."""

    @abstractmethod
    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]: ...

    async def prepare_reads(self, packs: Sequence[str]) -> None:  # noqa: B027 - optional
        """Called before a pull reads ranges of ``packs`` (a remote may prefetch URLs)."""

    @abstractmethod
    async def read_range(
        self, pack: str, offset: int, length: int, what: str, sink: RangeSink
    ) -> None:
        """Stream ``length`` bytes of ``pack`` from ``offset`` into ``sink``."""

    @abstractmethod
    async def commit(self, req: CommitRequest) -> VersionInfo: ...

    @abstractmethod
    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo: ...

    @abstractmethod
    async def get_manifest(self, project: str, name: str, ref: str) -> Manifest: ...

    @abstractmethod
    async def list_versions(self, project: str, name: str) -> list[VersionInfo]: ...

    @abstractmethod
    async def list_collections(self, project: str) -> list[CollectionInfo]: ...

    @abstractmethod
    async def list_projects(self) -> list[str]: ...

    @abstractmethod
    async def create_run(
        self, project: str, job_type: str, name: str | None, config: dict[str, Any], run_id: str
    ) -> RunInfo:
        """Create a run with a client-chosen id (so a retried create is idempotent)."""

    @abstractmethod
    async def finish_run(self, run_id: str, status: str) -> RunInfo: ...

    @abstractmethod
    async def use_version(
        self, run_id: str | None, project: str, name: str, ref: str, type: str | None
    ) -> VersionInfo: ...

    @abstractmethod
    async def run_outputs(self, run_id: str) -> list[VersionInfo]: ...

    @abstractmethod
    async def run_inputs(self, run_id: str) -> list[VersionInfo]: ...

    @abstractmethod
    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]: ...

    @abstractmethod
    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def delete_version(
        self, project: str, name: str, ref: str, delete_aliases: bool
    ) -> VersionInfo:
        """Delete one version; returns it as it was."""

    @abstractmethod
    async def delete_collection(
        self, project: str, name: str, delete_aliases: bool
    ) -> list[VersionInfo]:
        """Delete every version of an artifact; returns them as they were, oldest first."""


class HttpRemote(Remote):
    """A store behind ``asyncart server``."""

    def __init__(self, settings: Settings) -> None:
        self.http = HttpTransport(settings)
        self.counters = self.http.counters
        self.description = f"server {self.http.base_url}"
        self._direct = DirectTransfer(enabled=settings.direct_transfer)

    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(hashes), QUERY_BATCH):
            asked = list(hashes[i : i + QUERY_BATCH])
            answer = await self.http.answer(
                "POST", P.CHUNKS_MISSING, A.MissingAnswer, {"hashes": asked}, what="missing answer"
            )
            self._direct.offered(answer.direct)
            unasked = set(answer.missing).difference(asked)
            if unasked:
                raise MalformedAnswer(
                    f"{self.description} answered chunks/missing with hash {min(unasked)}, "
                    "which was not asked about"
                )
            out += answer.missing
        return out

    async def upload_pack(self, parts: Sequence[bytes | memoryview], what: str) -> None:
        if self._direct.uploads and await self._upload_direct(parts, what):
            return
        payload = PartsPayload(parts, P.PACK_MEDIA_TYPE)
        receipt = await self.http.answer(
            "POST",
            P.PACKS,
            A.PackReceipt,
            body=payload,
            what="pack receipt",
            doing=f"upload of {what}",
        )
        self._check_receipt(receipt, parts)

    def _check_receipt(self, receipt: A.PackReceipt, parts: Sequence[bytes | memoryview]) -> None:
        """The receipt must name the pack sent (its id is the BLAKE3 of its header)."""
        sent = blake3.blake3(parts[0]).hexdigest()
        if receipt.pack != sent:
            raise MalformedAnswer(
                f"{self.description} answered the upload of pack {sent} with a receipt for "
                f"pack {receipt.pack}"
            )

    async def _upload_direct(self, parts: Sequence[bytes | memoryview], what: str) -> bool:
        """Upload a pack's bytes straight to the object store, then have the server verify
        and record them (docs/protocol.md §3.10). False: not offered, use the server."""
        header = base64.b64encode(bytes(parts[0])).decode("ascii")
        offer = await self._offer(
            P.PACKS_DIRECT, {"header": header}, A.DirectUploadOffer, "direct upload offer"
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
            P.PACKS_DIRECT_COMPLETE,
            A.PackReceipt,
            {"header": header, "key": offer.key},
            what="pack receipt",
            doing=f"verification of {what}",
        )
        self._check_receipt(receipt, parts)
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
            if resp.status != 206 or resp.content_length != length:
                raise ProtocolError(
                    f"range read of pack {pack} answered status {resp.status} with "
                    f"{resp.content_length} bytes, expected 206 with {length}"
                )
            sink.restart()
            received = 0
            # iter_chunks yields the buffers as received: no joining into one bytes object.
            async for data, _ in resp.content.iter_chunks():
                received += len(data)
                await sink.write(data)
            self.http.counters.bytes_received += received
            if received != length:
                raise ProtocolError(f"range read of pack {pack} ended after {received} bytes")
            await sink.finish()

        return read

    async def commit(self, req: CommitRequest) -> VersionInfo:
        body = {
            "type": req.type,
            "manifest": req.manifest.to_json(),
            "aliases": list(req.aliases),
            "metadata": req.metadata,
            "description": req.description,
            "run_id": req.run_id,
        }
        path = P.path(P.VERSIONS, project=req.project, name=req.name)
        return (await self._version("POST", path, body)).info()

    async def _version(self, method: str, path: str, body: Any = None) -> A.VersionAnswer:
        return await self.http.answer(method, path, A.VersionAnswer, body, what="version")

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        path = P.path(P.VERSION, project=project, name=name, ref=ref)
        return (await self._version("GET", path)).info()

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
        try:
            return checked_manifest(blob, header.digest)
        except ManifestTooLarge as exc:
            raise MalformedAnswer(
                f"{self.description} sent an unusable manifest for {project}/{name}:{ref}: {exc}"
            ) from None
        except ConfigError as exc:  # a hostile or broken server: say where the manifest came from
            raise type(exc)(
                f"{self.description} sent an unusable manifest for {project}/{name}:{ref}: {exc}"
            ) from None

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
            if cursor in seen:
                raise MalformedAnswer(f"{self.description}: the {what} repeats a 'next' cursor")
            seen.add(cursor)

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

    async def list_projects(self) -> list[str]:
        pages = await self._pages(P.PROJECTS, A.ProjectList, "project list")
        return [p for page in pages for p in page.projects]

    async def create_run(
        self, project: str, job_type: str, name: str | None, config: dict[str, Any], run_id: str
    ) -> RunInfo:
        body = {
            "id": run_id,
            "project": project,
            "job_type": job_type,
            "name": name,
            "config": config,
        }
        return await self._run(P.RUNS, body)

    async def finish_run(self, run_id: str, status: str) -> RunInfo:
        return await self._run(P.path(P.RUN_FINISH, run_id=run_id), {"status": status})

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


def checked_manifest(blob: bytes | bytearray, digest: str) -> Manifest:
    """The manifest ``blob`` decodes to, if its digest is ``digest``."""
    manifest = Manifest.decode(blob)
    if manifest.digest != digest:
        raise IntegrityError(
            f"manifest does not match its version's digest ({manifest.digest} != {digest})"
        )
    return manifest


async def open_remote(settings: Settings) -> Remote:
    """The remote the settings name: a server if ``url`` is set, else the embedded store."""
    if settings.url:
        return HttpRemote(settings)
    # Imported here: an HTTP client never loads the repository (and SQLAlchemy).
    from asyncart.client.local import LocalRemote

    return await LocalRemote.open(settings)
