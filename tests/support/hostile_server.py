"""A hostile asyncart server for tests: real HTTP on 127.0.0.1, our own code, told to lie.

It speaks just enough of the protocol (docs/protocol.md) to serve a pull of one
version, ``project/name:v0`` (also as ``:latest``): the version info, the
manifest (gzip JSON plus the ``X-Asyncart-Version`` header), ``chunks/locate``
and ranged pack reads. Everything it serves lives in plain attributes of
:class:`Served`, which a test edits to make the server lie:

* ``version_answer``: replaces the ``VersionInfo`` JSON of the version;
* ``manifest_doc``: the manifest JSON, sent as it is (no validation), with a
  digest in the header computed the way the client computes it, so a lie in
  the entries reaches the client's entry checks rather than the digest check;
  ``manifest_blob``, ``manifest_digest`` and ``version_header`` override the
  body, the digest and the whole header;
* ``locations``: ``hash -> [pack, offset, length]`` answered to ``locate``
  (``locate_answer`` replaces the whole JSON answer);
* ``packs``: pack id -> stored bytes; ``range_lie`` changes how ranges are answered
  (one of :data:`RANGE_LIES`);
* ``body_lie``: the version or manifest answer becomes endless or a compression bomb
  (one of :data:`BODY_LIES`);
* ``extra_fields``: every JSON object answered (records in lists, the version header
  too) gains fields no client knows, and lists come in two pages (the list, then an empty
  page whose `next` is null), as a newer, paginating server answers them;
* ``answers``: route name (``"versions"``, ``"collections"``, ``"projects"``) -> the raw
  JSON to answer instead of the honest list.

Besides a pull it answers the lists of versions, collections and projects.

Sync tests use :func:`running_hostile_server`, which runs the server's event loop
in its own thread and stops it when the block ends::

    with running_hostile_server(Served.honest(FILES)) as server:
        server.served.range_lie = "wrong_bytes"
        ...  # pull from server.url
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import blake3
from aiohttp import web

from asyncart.core.chunking import DEFAULT_CHUNKER
from asyncart.core.manifest import MANIFEST_FORMAT, MAX_SIZE, ChunkRef
from asyncart.core.pack import PackHeader
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError
from tests.support.fault_proxy import reset_connection
from tests.support.loopback import loop_in_thread, run_in, serve_on_loopback

PROJECT = "project"
NAME = "name"
REF = f"{PROJECT}/{NAME}:v0"
_DIGEST_DOMAIN = b"asyncart.artifact-digest.v1\n"

BODY_LIES = (
    "endless_json",  # the version answer never ends (chunked, no Content-Length)
    "gzip_bomb_json",  # the version answer: 1 MiB with Content-Encoding: gzip, 1 GiB decoded
    "endless_manifest",  # the manifest body never ends
    "gzip_bomb_manifest",  # the manifest blob: gzip of 1 GiB (the format's own compression)
    "endless_error",  # a 500 whose error body never ends
)
FUTURE = {"added_by_a_newer_server": {"nested": [1, "two", None]}, "zz_flag": True}
_BOMB_DECODED = 1 << 30


@functools.cache
def gzip_bomb(prefix: bytes = b"") -> bytes:
    """``prefix`` and then 1 GiB of spaces, gzip-compressed (about 1 MiB).

    Built in well under a second: one 1 MiB block of spaces is compressed after a full
    flush (so its compressed form stands alone) and that form repeated.
    """
    block = b" " * (1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = z.compress(prefix) + z.flush(zlib.Z_FULL_FLUSH)
    packed = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    tail = z.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    count = _BOMB_DECODED >> 20
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    size = (len(prefix) + count * len(block)) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + size.to_bytes(4, "little")
    return header + head + packed * count + tail + trailer


def with_future_fields(value: Any) -> Any:
    """``value`` with :data:`FUTURE` added to every record in it (maps left alone)."""
    if isinstance(value, list):
        return [with_future_fields(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {
        k: v if k in ("metadata", "config", "locations", "urls") else with_future_fields(v)
        for k, v in value.items()
    }
    out.update(FUTURE)
    return out


RANGE_LIES = (
    "wrong_bytes",  # the right length, one byte flipped in every chunk
    "short",  # one byte less than asked, with a Content-Length that says so
    "truncated",  # Content-Length as asked, half the bytes, then the connection is reset
    "extra",  # the asked bytes and 16 more, with a Content-Length that says so
    "chunked_extra",  # chunked encoding (no Content-Length), the asked bytes and 16 more
    "whole_pack",  # 200 and the whole pack, ignoring Range
    "any_range",  # 206 with zeros for any range, even one outside the pack
)


def blake3_hex(data: bytes) -> str:
    """The lowercase hex BLAKE3 of ``data``."""
    return blake3.blake3(data).hexdigest()


def artifact_digest(entries: list[Any]) -> str:
    """The artifact digest of raw manifest entries, as the client would compute it.

    Paths the client accepts are normalised first (as the client does); paths it
    refuses are used as they are, so a hostile manifest still comes with a
    digest that matches its entries.
    """
    keyed: list[tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        path = entry.get("path")
        try:
            key = normalize_entry_path(path)
        except ConfigError:
            key = str(path)
        keyed.append((key, str(entry.get("digest"))))
    h = blake3.blake3(_DIGEST_DOMAIN)
    for path, digest in sorted(keyed):
        h.update(path.encode("utf-8", "surrogatepass") + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


@dataclass
class Served:
    """What the hostile server answers; tests edit these fields to make it lie."""

    manifest_doc: dict[str, Any]
    packs: dict[str, bytes]
    locations: dict[str, list[Any]]
    version_answer: Any = None
    manifest_blob: bytes | None = None
    manifest_digest: str | None = None
    version_header: str | None = None
    locate_answer: Any = None
    range_lie: str | None = None
    body_lie: str | None = None
    extra_fields: bool = False
    answers: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def honest(cls, files: dict[str, list[bytes]]) -> Served:
        """A consistent version holding ``files`` (path -> its chunks), one pack per file.

        A chunk already stored by an earlier file is located there (as a store
        that deduplicates would answer).
        """
        entries: list[dict[str, Any]] = []
        packs: dict[str, bytes] = {}
        locations: dict[str, list[Any]] = {}
        for path, chunks in files.items():
            data = b"".join(chunks)
            refs = [ChunkRef(blake3_hex(c), len(c)) for c in chunks]
            entry: dict[str, Any] = {"path": path, "size": len(data), "digest": blake3_hex(data)}
            if not (len(refs) == 1 and refs[0].hash == entry["digest"]) and refs:
                entry["chunks"] = [[r.hash, r.size] for r in refs]
            entries.append(entry)
            new = [(r, c) for r, c in zip(refs, chunks, strict=True) if r.hash not in locations]
            if not new:
                continue
            header = PackHeader(tuple(r for r, _ in new))
            pack = header.pack_id
            packs[pack] = b"".join(c for _, c in new)
            for r, offset in zip(header.chunks, header.offsets(), strict=True):
                locations.setdefault(r.hash, [pack, offset, r.size])
        doc = {
            "format": MANIFEST_FORMAT,
            "hash": "blake3",
            "chunker": DEFAULT_CHUNKER.to_json(),
            "entries": sorted(entries, key=lambda e: e["path"]),
        }
        return cls(manifest_doc=doc, packs=packs, locations=locations)

    def entries(self) -> list[Any]:
        """The manifest's entries (the objects themselves: edit them to lie)."""
        entries: list[Any] = self.manifest_doc["entries"]
        return entries

    def entry(self, path: str) -> dict[str, Any]:
        """The manifest entry with ``path`` (the object itself)."""
        for e in self.entries():
            if isinstance(e, dict) and e.get("path") == path:
                return e
        raise KeyError(path)

    def chunk_hashes(self, path: str) -> list[str]:
        """The chunk hashes of the honest entry ``path``, in file order."""
        e = self.entry(path)
        if "chunks" in e:
            return [h for h, _ in e["chunks"]]
        return [e["digest"]] if e["size"] else []

    def digest(self) -> str:
        """The artifact digest the version header announces."""
        if self.manifest_digest is not None:
            return self.manifest_digest
        entries = self.manifest_doc.get("entries")
        return artifact_digest(entries if isinstance(entries, list) else [])

    def version_info(self) -> Any:
        """The ``VersionInfo`` JSON of the one version (or the ``version_answer`` override)."""
        if self.version_answer is not None:
            return self.version_answer
        entries = self.manifest_doc.get("entries")
        entries = entries if isinstance(entries, list) else []
        sizes = [e.get("size") for e in entries if isinstance(e, dict)]
        total = sum(s for s in sizes if isinstance(s, int) and s >= 0)
        return {
            "project": PROJECT,
            "name": NAME,
            "type": "dataset",
            "index": 0,
            "version": "v0",
            "digest": self.digest(),
            "size": total if total <= MAX_SIZE else 0,  # lies in entries reach the manifest
            "file_count": len(entries),
            "aliases": ["latest"],
            "metadata": {},
            "description": None,
            "created_at": 0.0,
            "created_by": None,
            "created": False,
        }

    def manifest_body(self) -> bytes:
        """The manifest as sent: gzip-compressed JSON (or the override)."""
        if self.manifest_blob is not None:
            return self.manifest_blob
        return gzip.compress(json.dumps(self.manifest_doc).encode(), mtime=0)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "request_id": "hostile"}, status=status
    )


_RANGE_RE = re.compile(r"bytes=(-?\d+)-(-?\d+)")


class HostileServer:
    """An aiohttp server on 127.0.0.1 (OS-chosen port) answering from :attr:`served`."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> HostileServer:
        """Bind and start serving; sets :attr:`url`."""
        app = web.Application()
        r = app.router
        r.add_get("/v1/health", self._health)
        r.add_get("/v1/projects", self._projects)
        r.add_get("/v1/projects/{project}/artifacts", self._collections)
        r.add_get("/v1/projects/{project}/artifacts/{name}/versions", self._versions)
        r.add_get("/v1/projects/{project}/artifacts/{name}/versions/{ref}", self._version)
        r.add_get("/v1/projects/{project}/artifacts/{name}/versions/{ref}/manifest", self._manifest)
        r.add_post("/v1/chunks/locate", self._locate)
        r.add_get("/v1/packs/{pack}", self._pack)
        r.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
        self.url = await serve_on_loopback(self._runner)
        return self

    async def close(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _log(self, request: web.Request) -> None:
        self.served.requests.append((request.method, request.path))

    async def _health(self, request: web.Request) -> web.Response:
        self._log(request)
        return web.json_response({"status": "ok", "version": "0.1.0"})

    def _check_version(self, request: web.Request) -> web.Response | None:
        m = request.match_info
        if (m["project"], m["name"]) != (PROJECT, NAME):
            return _error(404, "artifact_not_found", f"no artifact {m['project']}/{m['name']}")
        if m["ref"] not in ("v0", "latest"):
            return _error(404, "version_not_found", f"no version {m['ref']}; versions: v0")
        return None

    def _json(self, value: Any, request: web.Request | None = None) -> web.Response:
        if self.served.extra_fields:
            value = with_future_fields(value)
        if request is not None and self.served.extra_fields and isinstance(value, dict):
            # A paginating server: the list, then an empty second page that ends it.
            if request.query.get("cursor") == "page-2":
                value = {k: [] if isinstance(v, list) else v for k, v in value.items()}
                value["next"] = None
            else:
                value["next"] = "page-2"
        return web.json_response(value)

    async def _projects(self, request: web.Request) -> web.Response:
        self._log(request)
        return self._json(self.served.answers.get("projects", {"projects": [PROJECT]}), request)

    async def _collections(self, request: web.Request) -> web.Response:
        self._log(request)
        honest = {
            "collections": [
                {
                    "project": PROJECT,
                    "name": NAME,
                    "type": "dataset",
                    "version_count": 1,
                    "created_at": 0.0,
                    "updated_at": 0.0,
                }
            ]
        }
        return self._json(self.served.answers.get("collections", honest), request)

    async def _versions(self, request: web.Request) -> web.Response:
        self._log(request)
        honest = {"versions": [self.served.version_info()]}
        return self._json(self.served.answers.get("versions", honest), request)

    async def _version(self, request: web.Request) -> web.StreamResponse:
        self._log(request)
        refused = self._check_version(request)
        if refused is not None:
            return refused
        lie = self.served.body_lie
        if lie == "endless_json":
            return await _endless(request, b'{"project": "', b"a" * (1 << 20))
        if lie == "gzip_bomb_json":
            return web.Response(
                body=gzip_bomb(b'{"project": "project", "pad": "'),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        if lie == "endless_error":
            return await _endless(
                request, b'{"code": "internal", "message": "', b"x" * (1 << 20), status=500
            )
        return self._json(self.served.version_info())

    async def _manifest(self, request: web.Request) -> web.Response:
        self._log(request)
        refused = self._check_version(request)
        if refused is not None:
            return refused
        served = self.served
        header = served.version_header
        if header is None:
            fields: dict[str, Any] = {"digest": served.digest(), "index": 0}
            header = json.dumps(with_future_fields(fields) if served.extra_fields else fields)
        if served.body_lie == "endless_manifest":
            return await _endless(
                request, b"", b"\x1f" * (1 << 20), headers={"X-Asyncart-Version": header}
            )
        body = served.manifest_body()
        if served.body_lie == "gzip_bomb_manifest":
            body = gzip_bomb(b'{"format": 1, "entries": [], "pad": "')
        return web.Response(
            body=body,
            content_type="application/x-asyncart-manifest",
            headers={"X-Asyncart-Version": header},
        )

    async def _locate(self, request: web.Request) -> web.Response:
        self._log(request)
        served = self.served
        if served.locate_answer is not None:
            return web.json_response(served.locate_answer)
        hashes = (await request.json())["hashes"]
        found = {h: served.locations[h] for h in hashes if h in served.locations}
        return self._json({"locations": found})

    async def _unknown(self, request: web.Request) -> web.Response:
        self._log(request)
        return _error(404, "http_error", f"no route {request.method} {request.path}")

    async def _pack(self, request: web.Request) -> web.StreamResponse:
        self._log(request)
        served = self.served
        lie = served.range_lie
        body = served.packs.get(request.match_info["pack"])
        if body is None:
            return _error(404, "not_found", "pack not stored")
        if lie == "whole_pack":
            return web.Response(body=body, content_type="application/octet-stream")
        m = _RANGE_RE.fullmatch(request.headers.get("Range", ""))
        if m is None:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(body)}"})
        first, last = int(m[1]), int(m[2])
        if lie == "any_range":
            data = bytes(max(0, last - first + 1))
        elif not 0 <= first <= last < len(body):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(body)}"})
        else:
            data = body[first : last + 1]
        if lie == "wrong_bytes":
            flipped = bytearray(data)
            for i in range(0, len(flipped), 97):  # at least one byte of every chunk
                flipped[i] ^= 0xFF
            data = bytes(flipped)
        elif lie == "short":
            data = data[:-1]
        elif lie in ("extra", "chunked_extra"):
            data += b"sixteen more b.."
        headers = {"Content-Range": f"bytes {first}-{last}/{len(body)}"}
        if lie in ("truncated", "chunked_extra"):
            resp = web.StreamResponse(status=206, headers=headers)
            resp.content_type = "application/octet-stream"
            if lie == "truncated":
                resp.content_length = len(data)
            else:
                resp.enable_chunked_encoding()
            await resp.prepare(request)
            if lie == "truncated":
                await resp.write(data[: len(data) // 2])
                reset_connection(request)
                return resp
            await resp.write(data)
            await resp.write_eof()
            return resp
        return web.Response(
            body=data, status=206, headers=headers, content_type="application/octet-stream"
        )


async def _endless(
    request: web.Request,
    head: bytes,
    block: bytes,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """``head`` then ``block`` again and again (up to 4 GiB), until the client hangs up."""
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_type = "application/json"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        await resp.write(head)
        for _ in range((4 << 30) // len(block)):
            await resp.write(block)
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading: what it must do
    return resp


@contextmanager
def running_hostile_server(served: Served) -> Iterator[HostileServer]:
    """A started :class:`HostileServer` whose event loop runs in its own thread; stopped after.

    Edit ``server.served`` from the test thread between pulls (plain attributes).
    """
    with loop_in_thread("hostile-server") as loop:
        server = run_in(loop, HostileServer(served).start())
        try:
            yield server
        finally:
            run_in(loop, server.close())
