"""Where the engine sends its requests: ``HttpRemote`` (a server) or ``LocalRemote`` (in-process,
in ``local.py``).

Both expose the same coroutines, so the upload and download pipelines are
written once. ``LocalRemote`` is the embedded default: the repository code the
server runs, called directly on a store directory.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp

from asyncart.client.transport import Counters, HttpTransport, PartsPayload
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest
from asyncart.core.models import (
    ChunkLocation,
    CollectionInfo,
    CommitRequest,
    RunInfo,
    VersionInfo,
)
from asyncart.errors import IntegrityError, ProtocolError

QUERY_BATCH = 20_000


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

    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(hashes), QUERY_BATCH):
            body = {"hashes": list(hashes[i : i + QUERY_BATCH])}
            out += (await self.http.json("POST", P.CHUNKS_MISSING, body))["missing"]
        return out

    async def upload_pack(self, parts: Sequence[bytes | memoryview], what: str) -> None:
        payload = PartsPayload(parts, P.PACK_MEDIA_TYPE)
        await self.http.json("POST", P.PACKS, body=payload, what=f"upload of {what}")

    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]:
        out: dict[str, ChunkLocation] = {}
        for i in range(0, len(hashes), QUERY_BATCH):
            body = {"hashes": list(hashes[i : i + QUERY_BATCH])}
            found = (await self.http.json("POST", P.CHUNKS_LOCATE, body))["locations"]
            out.update({h: ChunkLocation(p, o, n) for h, (p, o, n) in found.items()})
        return out

    async def read_range(
        self, pack: str, offset: int, length: int, what: str, sink: RangeSink
    ) -> None:
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

        await self.http.call(
            "GET",
            P.path(P.PACK, pack=pack),
            read,
            headers={"Range": f"bytes={offset}-{offset + length - 1}"},
            what=what,
        )

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
        return VersionInfo.from_json(await self.http.json("GET", path))

    async def get_manifest(self, project: str, name: str, ref: str) -> Manifest:
        async def read(resp: aiohttp.ClientResponse) -> tuple[bytes, str]:
            blob = await resp.read()
            self.http.counters.bytes_received += len(blob)
            info = json.loads(resp.headers.get(P.VERSION_INFO_HEADER, "{}"))
            return blob, str(info.get("digest"))

        path = P.path(P.MANIFEST, project=project, name=name, ref=ref)
        blob, digest = await self.http.call("GET", path, read)
        return checked_manifest(blob, digest)

    async def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        data = await self.http.json("GET", P.path(P.VERSIONS, project=project, name=name))
        return [VersionInfo.from_json(v) for v in data["versions"]]

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        data = await self.http.json("GET", P.path(P.COLLECTIONS, project=project))
        return [CollectionInfo.from_json(c) for c in data["collections"]]

    async def list_projects(self) -> list[str]:
        return list((await self.http.json("GET", P.PROJECTS))["projects"])

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
            return VersionInfo.from_json(await self.http.json("GET", path))
        body = {"project": project, "name": name, "ref": ref, "type": type}
        path = P.path(P.RUN_INPUTS, run_id=run_id)
        return VersionInfo.from_json(await self.http.json("POST", path, body))

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        data = await self.http.json("GET", P.path(P.RUN_OUTPUTS, run_id=run_id))
        return [VersionInfo.from_json(v) for v in data["versions"]]

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        data = await self.http.json("GET", P.path(P.RUN_INPUTS, run_id=run_id))
        return [VersionInfo.from_json(v) for v in data["versions"]]

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        path = P.path(P.VERSION_CONSUMERS, project=project, name=name, ref=ref)
        return [RunInfo.from_json(r) for r in (await self.http.json("GET", path))["runs"]]

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        path = P.path(P.VERSION_PRODUCERS, project=project, name=name, ref=ref)
        return [RunInfo.from_json(r) for r in (await self.http.json("GET", path))["runs"]]

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
