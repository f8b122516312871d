"""Routes of chunks and packs: which chunks the store lacks or where they are, pack
uploads (through the server or straight to the object store), and pack reads.

Every upload route takes ``?project=P``, the project the pack is for: the caller needs
write access to it, and its quota is checked before the body is read and charged with
the pack before the pack's bytes are stored (docs/quotas.md, "Pack uploads").
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from aiohttp import hdrs, web

from asyncart.core import protocol as P
from asyncart.core.pack import ENTRY, MAX_PACK_BYTES, MAX_PACK_CHUNKS, PREFIX
from asyncart.errors import ConfigError, NotFoundError, PayloadTooLarge, UnsupportedEncoding
from asyncart.repo.service import PackReceipt, pack_key
from asyncart.server import pack_reads
from asyncart.server.body_takeover import PACK_UPLOAD_ROUTE, pack_upload_body
from asyncart.server.keys import PARSER, RECEIVE_BUFFERS, RECENT_READS
from asyncart.server.params import json_body, path_param, project_query, scoped_repo
from asyncart.server.schemas import PackHeaderBody, PackUrlsQuery

MAX_PACK_BODY = PREFIX.size + ENTRY.size * MAX_PACK_CHUNKS + MAX_PACK_BYTES  # largest valid pack


async def chunks_missing(request: web.Request) -> web.Response:
    repo = scoped_repo(request)
    repo.check_has_grant("query chunks")  # before a byte of the body is read
    hashes = await request.app[PARSER].hashes(request)
    missing = await repo.missing_chunks(hashes)
    return web.json_response({"missing": missing, "direct": repo.repo.direct_transfer})


async def chunks_locate(request: web.Request) -> web.Response:
    repo = scoped_repo(request)
    repo.check_has_grant("locate chunks")
    hashes = await request.app[PARSER].hashes(request)
    found = await repo.locate_chunks(hashes)
    return web.json_response(
        {
            "locations": {h: [loc.pack, loc.offset, loc.length] for h, loc in found.items()},
            "direct": repo.repo.direct_transfer,
        }
    )


async def put_pack(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_PACK_BODY:
        raise PayloadTooLarge(
            f"pack upload is {request.content_length} bytes; the limit is {MAX_PACK_BODY} "
            f"({MAX_PACK_CHUNKS} chunks, {MAX_PACK_BYTES} chunk bytes)"
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedEncoding(
            f"a pack upload must not be Content-Encoding {encoding[:40]!r}: send the pack "
            "bytes as they are (they are compressed already, or do not compress)"
        )
    repo = scoped_repo(request)
    project = project_query(request)
    limited = await repo.check_upload(project, request.content_length)  # before the body
    body = pack_upload_body(request, request.app[PARSER].timing, request.app[RECEIVE_BUFFERS])
    receipt = await repo.put_pack(body, project, reserve=limited)
    return _receipt(receipt)


def _receipt(receipt: PackReceipt) -> web.Response:
    return web.json_response(
        {
            "pack": receipt.pack,
            "chunks": receipt.chunks,
            "new_chunks": receipt.new_chunks,
            "size": receipt.size,
        },
        status=201,
    )


def _header_field(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise ConfigError("'header' must be the pack header in base64") from None


async def pack_urls(request: web.Request) -> web.Response:
    repo = scoped_repo(request)
    repo.check_has_grant("read packs")
    packs = (await json_body(request, PackUrlsQuery)).packs
    urls = await repo.pack_urls(packs)
    return web.json_response(
        {"offered": repo.repo.direct_transfer, "urls": urls, "expires_in": P.DIRECT_URL_SECONDS}
    )


async def begin_direct_upload(request: web.Request) -> web.Response:
    repo = scoped_repo(request)
    project = project_query(request)
    await repo.check_upload(project)
    body = await json_body(request, PackHeaderBody, P.MAX_HEADER_BODY)
    target = await repo.begin_direct_upload(_header_field(body.header), project)
    if target is None:
        return web.json_response({"url": None, "key": None, "expires_in": None})
    key, url = target
    return web.json_response({"url": url, "key": key, "expires_in": P.DIRECT_URL_SECONDS})


async def complete_direct_upload(request: web.Request) -> web.Response:
    repo = scoped_repo(request)
    project = project_query(request)
    await repo.check_upload(project)
    body = await json_body(request, PackHeaderBody, P.MAX_HEADER_BODY)
    if body.key is None:
        raise ConfigError("field 'key' is required: the key the direct upload answer gave")
    receipt = await repo.complete_direct_upload(_header_field(body.header), body.key, project)
    return _receipt(receipt)


async def get_pack(request: web.Request) -> web.StreamResponse:
    """A pack, or a range of it: exactly the checked bytes (``server/pack_reads.py``)."""
    pack_id = path_param(request, "pack")
    scoped = scoped_repo(request)
    repo = scoped.repo
    local = repo.pack_path(pack_id)
    restricted = scoped.principal.restricted
    whole_allowed = local is not None and not restricted
    headers = request.headers.getall(hdrs.RANGE, [])
    if not headers:
        if whole_allowed:
            assert local is not None
            return await pack_reads.local_range(local, None, total_known=True)
        raise ConfigError(
            "a Range header 'bytes=first-last' is required here: "
            + ("keys read only the chunks they may see" if restricted else "this store")
        )
    try:
        if len(headers) > 1:
            raise pack_reads.RangeNotSatisfiable("send one Range header, not several")
        rng = pack_reads.parse_range(headers[0])
    except pack_reads.RangeNotSatisfiable:
        if whole_allowed:
            assert local is not None
            return pack_reads.unsatisfiable(await asyncio.to_thread(pack_reads.local_size, local))
        raise
    if restricted:
        await scoped.check_pack_range(pack_id, rng.first, rng.last + 1)
        await scoped.audit_pack_read(pack_id, rng.first, rng.last, request.app[RECENT_READS])
    if local is not None:
        return await pack_reads.local_range(local, rng, total_known=not restricted)
    total: int | None = None
    if not restricted:
        info = await repo.blobs.stat(pack_key(pack_id))
        if info is None:
            raise NotFoundError(f"pack {pack_id} is not in the store")
        if rng.last >= info.size:
            return pack_reads.unsatisfiable(info.size)
        total = info.size
    return pack_reads.object_range(
        lambda offset, length: repo.read_pack_range(pack_id, offset, length), rng, total
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the chunk and pack routes."""
    router.add_post(P.CHUNKS_MISSING, chunks_missing)
    router.add_post(P.CHUNKS_LOCATE, chunks_locate)
    router.add_post(P.PACKS, put_pack, name=PACK_UPLOAD_ROUTE)
    router.add_post(P.PACK_URLS, pack_urls)
    router.add_post(P.PACKS_DIRECT, begin_direct_upload)
    router.add_post(P.PACKS_DIRECT_COMPLETE, complete_direct_upload)
    router.add_get(P.PACK, get_pack)
