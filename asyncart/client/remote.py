"""Where the engine sends its requests: ``HttpRemote`` (a server) or ``LocalRemote`` (in-process,
in ``local.py``).

Both expose the same coroutines, so the upload and download pipelines are
written once. ``LocalRemote`` is the embedded default: the repository code the
server runs, called directly on a store directory.
"""

from __future__ import annotations

import base64
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from asyncart.client.transport import (
    Counters,
    DirectTransferError,
    HttpTransport,
    PartsPayload,
)
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.core.chunking import MAX_CHUNK_SIZE
from asyncart.core.manifest import DIGEST_HEX_LENGTH, MAX_SIZE, Manifest
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

QUERY_BATCH = 20_000
log = logging.getLogger("asyncart.client")


async def _drain(resp: aiohttp.ClientResponse) -> None:
    await resp.read()


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

    def offered(self, answer: Any) -> None:
        """Learn from a ``missing``/``locate`` answer whether the server offers direct
        transfer (``"direct": true``; absent from older servers: not offered)."""
        if not (isinstance(answer, dict) and answer.get("direct") is True):
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
            body = {"hashes": list(hashes[i : i + QUERY_BATCH])}
            answer = await self.http.json("POST", P.CHUNKS_MISSING, body)
            self._direct.offered(answer)
            out += answer["missing"]
        return out

    async def upload_pack(self, parts: Sequence[bytes | memoryview], what: str) -> None:
        if self._direct.uploads and await self._upload_direct(parts, what):
            return
        payload = PartsPayload(parts, P.PACK_MEDIA_TYPE)
        await self.http.json("POST", P.PACKS, body=payload, what=f"upload of {what}")

    async def _upload_direct(self, parts: Sequence[bytes | memoryview], what: str) -> bool:
        """Upload a pack's bytes straight to the object store, then have the server verify
        and record them (docs/protocol.md §3.10). False: not offered, use the server."""
        header = base64.b64encode(bytes(parts[0])).decode("ascii")
        offer = await self._offer(P.PACKS_DIRECT, {"header": header})
        if not isinstance(offer, dict) or not offer.get("url"):
            self._direct.uploads = False  # this server does not offer it: never ask again
            return False
        data = parts[1:]
        try:
            await self.http.call_direct(
                "PUT",
                offer["url"],
                _drain,
                body=PartsPayload(data, "application/octet-stream"),
                what=f"direct upload of {what}",
            )
        except (DirectTransferError, ConnectError, CertificateError) as exc:
            self._direct.give_up(f"uploads to the object store failed ({exc})")
            return False
        await self.http.json(
            "POST",
            P.PACKS_DIRECT_COMPLETE,
            {"header": header, "key": offer["key"]},
            what=f"verification of {what}",
        )
        return True

    async def _offer(self, path: str, body: dict[str, Any]) -> Any:
        """POST to a direct-transfer route; None from a server that has no such route (an
        older asyncart, or another implementation of the protocol)."""
        try:
            return await self.http.json("POST", path, body)
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
            answer = await self._offer(P.PACK_URLS, {"packs": wanted[i : i + P.MAX_PACK_URLS]})
            urls = answer.get("urls") if isinstance(answer, dict) else None
            if (
                not isinstance(answer, dict)
                or not answer.get("offered")
                or not isinstance(urls, dict)
            ):
                self._direct.downloads = False  # not offered by this server
                return
            self._direct.urls.update(
                {k: v for k, v in urls.items() if isinstance(k, str) and isinstance(v, str)}
            )

    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]:
        out: dict[str, ChunkLocation] = {}
        for i in range(0, len(hashes), QUERY_BATCH):
            body = {"hashes": list(hashes[i : i + QUERY_BATCH])}
            answer = await self.http.json("POST", P.CHUNKS_LOCATE, body)
            self._direct.offered(answer)
            out.update(parse_locations(answer, self.description))
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
        return VersionInfo.from_json(await self.http.json("POST", path, body))

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        path = P.path(P.VERSION, project=project, name=name, ref=ref)
        return parse_version_info(await self.http.json("GET", path), self.description)

    async def get_manifest(self, project: str, name: str, ref: str) -> Manifest:
        async def read(resp: aiohttp.ClientResponse) -> tuple[bytes, str]:
            blob = await resp.read()
            self.http.counters.bytes_received += len(blob)
            return blob, resp.headers.get(P.VERSION_INFO_HEADER, "{}")

        path = P.path(P.MANIFEST, project=project, name=name, ref=ref)
        blob, header = await self.http.call("GET", path, read)
        try:
            info = json.loads(header)
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise ProtocolError(
                f"{self.description} sent the manifest of {project}/{name}:{ref} with a "
                f"malformed {P.VERSION_INFO_HEADER} header {header[:200]!r}"
            )
        try:
            return checked_manifest(blob, str(info.get("digest")))
        except ConfigError as exc:  # a hostile or broken server: say where the manifest came from
            raise type(exc)(
                f"{self.description} sent an unusable manifest for {project}/{name}:{ref}: {exc}"
            ) from None

    async def _pages(self, path: str, key: str) -> list[Any]:
        """Every item of a paginated list answer (docs/protocol.md §3.6): follows ``next``
        until it is null (or absent: a server from before pagination)."""
        items: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = "" if cursor is None else "?" + urlencode({"cursor": cursor})
            data = await self.http.json("GET", path + query)  # the server's default page
            page = data.get(key) if isinstance(data, dict) else None
            if not isinstance(page, list):
                raise ProtocolError(f"{self.description}: list answer without a {key!r} list")
            items += page
            cursor = data.get("next")
            if cursor is None:
                return items
            if not isinstance(cursor, str) or cursor in seen:
                raise ProtocolError(f"{self.description}: list answer with a bad 'next' cursor")
            seen.add(cursor)

    async def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        items = await self._pages(P.path(P.VERSIONS, project=project, name=name), "versions")
        return [VersionInfo.from_json(v) for v in items]

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        items = await self._pages(P.path(P.COLLECTIONS, project=project), "collections")
        return [CollectionInfo.from_json(c) for c in items]

    async def list_projects(self) -> list[str]:
        return list(await self._pages(P.PROJECTS, "projects"))

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
        return RunInfo.from_json(await self.http.json("POST", P.RUNS, body))

    async def finish_run(self, run_id: str, status: str) -> RunInfo:
        path = P.path(P.RUN_FINISH, run_id=run_id)
        return RunInfo.from_json(await self.http.json("POST", path, {"status": status}))

    async def use_version(
        self, run_id: str | None, project: str, name: str, ref: str, type: str | None
    ) -> VersionInfo:
        if run_id is None:
            path = P.path(P.VERSION, project=project, name=name, ref=ref)
            if type is not None:
                path += "?" + urlencode({"type": type})
            return parse_version_info(await self.http.json("GET", path), self.description)
        body = {"project": project, "name": name, "ref": ref, "type": type}
        path = P.path(P.RUN_INPUTS, run_id=run_id)
        return parse_version_info(await self.http.json("POST", path, body), self.description)

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        items = await self._pages(P.path(P.RUN_OUTPUTS, run_id=run_id), "versions")
        return [VersionInfo.from_json(v) for v in items]

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        items = await self._pages(P.path(P.RUN_INPUTS, run_id=run_id), "versions")
        return [VersionInfo.from_json(v) for v in items]

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        path = P.path(P.VERSION_CONSUMERS, project=project, name=name, ref=ref)
        return [RunInfo.from_json(r) for r in await self._pages(path, "runs")]

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        path = P.path(P.VERSION_PRODUCERS, project=project, name=name, ref=ref)
        return [RunInfo.from_json(r) for r in await self._pages(path, "runs")]

    async def close(self) -> None:
        await self.http.close()

    async def delete_version(
        self, project: str, name: str, ref: str, delete_aliases: bool
    ) -> VersionInfo:
        path = P.path(P.VERSION, project=project, name=name, ref=ref)
        path += "?" + urlencode({P.DELETE_ALIASES_PARAM: str(delete_aliases).lower()})
        return VersionInfo.from_json(await self.http.json("DELETE", path))

    async def delete_collection(
        self, project: str, name: str, delete_aliases: bool
    ) -> list[VersionInfo]:
        path = P.path(P.COLLECTION, project=project, name=name)
        path += "?" + urlencode({P.DELETE_ALIASES_PARAM: str(delete_aliases).lower()})
        data = await self.http.json("DELETE", path)
        return [VersionInfo.from_json(v) for v in data["versions"]]


def parse_version_info(answer: Any, source: str) -> VersionInfo:
    """The ``VersionInfo`` of an answer that should hold one (a pull starts from it).

    Raises:
        ProtocolError: the answer is not a ``VersionInfo`` object.
    """
    try:
        return VersionInfo.from_json(answer)
    except (TypeError, ValueError, KeyError, AttributeError):
        raise ProtocolError(
            f"{source} answered with a malformed version: {json.dumps(answer)[:200]}"
        ) from None


def parse_locations(answer: Any, source: str) -> dict[str, ChunkLocation]:
    """The chunk locations of a ``chunks/locate`` answer, each checked for shape and range.

    Raises:
        ProtocolError: the answer is not ``{"locations": {hash: [pack, offset, length]}}``
            with a 64-hex pack id, ``0 <= offset``, ``1 <= length <= MAX_CHUNK_SIZE`` and
            ``offset + length <= MAX_SIZE``.
    """
    found = answer.get("locations") if isinstance(answer, dict) else None
    if not isinstance(found, dict):
        raise ProtocolError(f"{source} answered chunks/locate without a 'locations' object")
    out: dict[str, ChunkLocation] = {}
    for h, loc in found.items():
        if not (
            isinstance(loc, list)
            and len(loc) == 3
            and isinstance(loc[0], str)
            and len(loc[0]) == DIGEST_HEX_LENGTH
            and not loc[0].strip("0123456789abcdef")
            and all(isinstance(v, int) and not isinstance(v, bool) for v in loc[1:])
            and loc[1] >= 0
            and 0 < loc[2] <= MAX_CHUNK_SIZE
            and loc[1] + loc[2] <= MAX_SIZE
        ):
            raise ProtocolError(
                f"{source} answered chunks/locate with an impossible location for chunk "
                f"{str(h)[:64]}: {json.dumps(loc)[:200]} (expected [64-hex pack id, offset >= 0, "
                f"length 1..{MAX_CHUNK_SIZE}])"
            )
        out[h] = ChunkLocation(loc[0], loc[1], loc[2])
    return out


def checked_manifest(blob: bytes, digest: str) -> Manifest:
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
