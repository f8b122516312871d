"""The aiohttp application: parse the request, call the repository, answer.

No business rule lives here; ``asyncart.repo.service.Repository`` has them all.
Errors become ``{"code", "message", "request_id"}`` in one middleware.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from asyncart._version import __version__
from asyncart.core import protocol as P
from asyncart.core.names import validate_name
from asyncart.core.pack import ENTRY, MAX_PACK_BYTES, MAX_PACK_CHUNKS, PREFIX
from asyncart.errors import AsyncartError, ConfigError, NotFoundError, PayloadTooLarge
from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore
from asyncart.repo.audit import MAX_QUERY as MAX_AUDIT_QUERY
from asyncart.repo.audit import AuditLog
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores.database import Database
from asyncart.repo.read_audit import RecentPackReads
from asyncart.repo.scoped import ScopedRepository
from asyncart.repo.service import PackReceipt, Repository, pack_key
from asyncart.server import pack_reads, pages
from asyncart.server.auth import ACCOUNTS, WWW_AUTHENTICATE, auth_middleware, principal_of
from asyncart.server.bodies import DEFAULT_TIMING, BodyTiming, stream_body
from asyncart.server.openapi import openapi_bytes
from asyncart.server.parsing import BodyParser
from asyncart.server.schemas import (
    B,
    PackHeaderBody,
    PackUrlsQuery,
    RunCreateBody,
    RunFinishBody,
    RunInputBody,
)
from asyncart.server.webui import add_routes as add_web_routes

log = logging.getLogger("asyncart.server")
REPO: web.AppKey[Repository] = web.AppKey("repo", Repository)
PARSER: web.AppKey[BodyParser] = web.AppKey("parser", BodyParser)
AUDIT: web.AppKey[AuditLog] = web.AppKey("audit", AuditLog)
RECENT_READS: web.AppKey[RecentPackReads] = web.AppKey("recent_reads", RecentPackReads)
REQUEST_ID = "asyncart.request_id"  # request key: the id echoed in X-Request-Id
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_PACK_BODY = PREFIX.size + ENTRY.size * MAX_PACK_CHUNKS + MAX_PACK_BYTES  # largest valid pack


def _error(status: int, code: str, message: str, request_id: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "request_id": request_id},
        status=status,
        headers={P.REQUEST_ID_HEADER: request_id},
    )


class UnsupportedEncoding(AsyncartError):
    """415: a pack upload sent with a Content-Encoding (packs are sent as they are)."""

    code = "unsupported_media_type"
    http_status = 415


_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_RUN_ID_RE = re.compile(r"[0-9a-f]{8,64}")


def _request_id(request: web.Request) -> str:
    """The client's ``X-Request-Id`` if it is a sane token, else a fresh one."""
    given = request.headers.get(P.REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID_RE.fullmatch(given) else secrets.token_hex(8)


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except AsyncartError as exc:
        if exc.http_status >= 500:
            log.exception("request %s failed: %s %s", request_id, request.method, request.path)
        reply = _error(exc.http_status, exc.code, str(exc), request_id)
        if exc.http_status == 401:
            reply.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return reply
    except web.HTTPException as exc:
        if exc.status == 413:
            return _error(
                413, "payload_too_large", f"request body too large: {exc.text}", request_id
            )
        if exc.status >= 400:
            reply = _error(exc.status, "http_error", exc.reason, request_id)
            if "Allow" in exc.headers:
                reply.headers["Allow"] = exc.headers["Allow"]
            return reply
        raise
    except Exception:
        log.exception("request %s crashed: %s %s", request_id, request.method, request.path)
        return _error(500, "internal", "internal server error; see the server log", request_id)
    response.headers[P.REQUEST_ID_HEADER] = request_id
    return response


async def _body(request: web.Request, kind: type[B], limit: int = P.MAX_SMALL_BODY) -> B:
    """The JSON body as ``kind`` (docs/protocol.md §2 JSON, §3.9 limits)."""
    return await request.app[PARSER].body(request, kind, limit)


def _name(value: str, what: str) -> str:
    """A project/artifact/type name or ref from the request; 400 ``invalid_name`` if bad."""
    return validate_name(value, what=what)


def _run_id(value: str | None, what: str = "run id") -> str | None:
    if value is not None and not _RUN_ID_RE.fullmatch(value):
        raise ConfigError(f"{what} {value[:80]!r} is not 8-64 lowercase hex characters")
    return value


_PATH_PARAMS = {"project": "project name", "name": "artifact name", "ref": "version or alias"}


def _m(request: web.Request, key: str) -> str:
    """A path parameter, checked: names by the naming rules, run ids by their format."""
    value = request.match_info[key]
    if key == "run_id":
        _run_id(value)
    elif key in _PATH_PARAMS:
        _name(value, _PATH_PARAMS[key])
    return value


def _type_query(request: web.Request) -> str | None:
    value = request.query.get("type")
    return None if value is None else _name(value, "type")


def _repo(request: web.Request) -> ScopedRepository:
    """The repository as the request's caller may use it."""
    return ScopedRepository(
        request.app[REPO], principal_of(request), request.app[AUDIT], request.get(REQUEST_ID)
    )


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def chunks_missing(request: web.Request) -> web.Response:
    repo = _repo(request)
    repo.check_has_grant("query chunks")  # before a byte of the body is read
    hashes = await request.app[PARSER].hashes(request)
    missing = await repo.missing_chunks(hashes)
    return web.json_response({"missing": missing, "direct": repo.repo.direct_transfer})


async def chunks_locate(request: web.Request) -> web.Response:
    repo = _repo(request)
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
    repo = _repo(request)
    repo.check_may_upload()  # before a byte of the body is read
    receipt = await repo.put_pack(stream_body(request, request.app[PARSER].timing))
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
    repo = _repo(request)
    repo.check_has_grant("read packs")
    packs = (await _body(request, PackUrlsQuery)).packs
    urls = await repo.pack_urls(packs)
    return web.json_response(
        {"offered": repo.repo.direct_transfer, "urls": urls, "expires_in": P.DIRECT_URL_SECONDS}
    )


async def begin_direct_upload(request: web.Request) -> web.Response:
    repo = _repo(request)
    repo.check_may_upload()
    body = await _body(request, PackHeaderBody, P.MAX_HEADER_BODY)
    target = await repo.begin_direct_upload(_header_field(body.header))
    if target is None:
        return web.json_response({"url": None, "key": None, "expires_in": None})
    key, url = target
    return web.json_response({"url": url, "key": key, "expires_in": P.DIRECT_URL_SECONDS})


async def complete_direct_upload(request: web.Request) -> web.Response:
    repo = _repo(request)
    repo.check_may_upload()
    body = await _body(request, PackHeaderBody, P.MAX_HEADER_BODY)
    if body.key is None:
        raise ConfigError("field 'key' is required: the key the direct upload answer gave")
    receipt = await repo.complete_direct_upload(_header_field(body.header), body.key)
    return _receipt(receipt)


async def get_pack(request: web.Request) -> web.StreamResponse:
    """A pack, or a range of it: exactly the checked bytes (``server/pack_reads.py``)."""
    pack_id = _m(request, "pack")
    scoped = _repo(request)
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
    data = await repo.read_pack_range(pack_id, rng.first, rng.length)
    return pack_reads.bytes_range(data, rng, total)


async def list_projects(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    chosen, after = pages.by_name(await _repo(request).list_projects(), page, lambda p: p)
    return pages.answer("projects", list(chosen), after)


async def list_collections(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    cols = await _repo(request).list_collections(_m(request, "project"))
    chosen, after = pages.by_name(cols, page, lambda c: c.name)
    return pages.answer("collections", [c.to_json() for c in chosen], after)


async def list_versions(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    versions = await _repo(request).list_versions(
        _m(request, "project"), _m(request, "name"), after=page.number(), limit=page.limit + 1
    )
    chosen = versions[: page.limit]
    after = str(chosen[-1].index) if len(versions) > page.limit else None
    return pages.answer("versions", [v.to_json() for v in chosen], after)


async def commit_version(request: web.Request) -> web.Response:
    project, name = _m(request, "project"), _m(request, "name")
    repo = _repo(request)
    repo.require(project, Role.WRITE, "pushing an artifact")  # before the body is read
    prepared = await request.app[PARSER].commit(request, project, name)
    _run_id(prepared.run_id)
    info = await repo.commit(prepared)
    return web.json_response(info.to_json(), status=201 if info.created else 200)


async def get_version(request: web.Request) -> web.Response:
    info = await _repo(request).get_version(
        _m(request, "project"), _m(request, "name"), _m(request, "ref"), _type_query(request)
    )
    return web.json_response(info.to_json())


def _flag(request: web.Request, key: str) -> bool:
    value = request.query.get(key, "false")
    value = value.lower() if value.isascii() else value
    if value not in ("true", "false"):
        raise ConfigError(f"query parameter {key!r} must be 'true' or 'false', not {value!r}")
    return value == "true"


async def delete_version(request: web.Request) -> web.Response:
    info = await _repo(request).delete_version(
        _m(request, "project"),
        _m(request, "name"),
        _m(request, "ref"),
        delete_aliases=_flag(request, P.DELETE_ALIASES_PARAM),
    )
    return web.json_response(info.to_json())


async def delete_collection(request: web.Request) -> web.Response:
    deleted = await _repo(request).delete_collection(
        _m(request, "project"),
        _m(request, "name"),
        delete_aliases=_flag(request, P.DELETE_ALIASES_PARAM),
    )
    return web.json_response({"versions": [v.to_json() for v in deleted]})


async def get_manifest(request: web.Request) -> web.Response:
    info, blob = await _repo(request).get_manifest_blob(
        _m(request, "project"), _m(request, "name"), _m(request, "ref")
    )
    return web.Response(
        body=blob,
        content_type=P.MANIFEST_MEDIA_TYPE,
        headers={P.VERSION_INFO_HEADER: json.dumps({"digest": info.digest, "index": info.index})},
    )


async def version_consumers(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    runs = await _repo(request).version_consumers(
        _m(request, "project"), _m(request, "name"), _m(request, "ref")
    )
    chosen, after = pages.by_offset(runs, page)
    return pages.answer("runs", [r.to_json() for r in chosen], after)


async def version_producers(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    runs = await _repo(request).version_producers(
        _m(request, "project"), _m(request, "name"), _m(request, "ref")
    )
    chosen, after = pages.by_offset(runs, page)
    return pages.answer("runs", [r.to_json() for r in chosen], after)


async def create_run(request: web.Request) -> web.Response:
    repo = _repo(request)
    repo.check_may_upload("start a run")  # the project is in the body: checked after it
    body = await _body(request, RunCreateBody, P.MAX_RUN_BODY)
    run = await repo.create_run(
        project=body.project,
        job_type=body.job_type,
        name=body.name,
        config=body.config or {},
        run_id=body.id,
    )
    return web.json_response(run.to_json(), status=201)


async def get_run(request: web.Request) -> web.Response:
    return web.json_response((await _repo(request).get_run(_m(request, "run_id"))).to_json())


async def finish_run(request: web.Request) -> web.Response:
    run_id = _m(request, "run_id")
    repo = _repo(request)
    await repo.require_run(run_id, Role.WRITE, "finishing a run")  # before the body
    status = (await _body(request, RunFinishBody)).status or "finished"
    run = await repo.finish_run(run_id, status)
    return web.json_response(run.to_json())


async def add_run_input(request: web.Request) -> web.Response:
    run_id = _m(request, "run_id")
    repo = _repo(request)
    await repo.require_run(run_id, Role.WRITE, "recording a run's input")  # before the body
    body = await _body(request, RunInputBody)
    info = await repo.use_version(
        run_id,
        _name(body.project, "project name"),
        _name(body.name, "artifact name"),
        _name(body.ref, "version or alias"),
        None if body.type is None else _name(body.type, "type"),
    )
    return web.json_response(info.to_json())


async def audit_log(request: web.Request) -> web.Response:
    limit = _int_query(request, "limit", 100, 1, MAX_AUDIT_QUERY)
    before = request.query.get("before")
    before_id = None if before is None else _int_query(request, "before", 0, 1, 2**62)
    events = await _repo(request).audit_events(
        _m(request, "project"), limit=limit, before_id=before_id
    )
    return web.json_response({"events": [e.to_json() for e in events]})


def _int_query(request: web.Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query.get(key)
    if text is None:
        return default
    # ASCII digits only: str.isdigit() and int() also take superscript, fullwidth, etc.
    if not (text.isascii() and text.isdigit() and len(text) <= 20) or not (
        low <= int(text) <= high
    ):
        raise ConfigError(f"query parameter {key!r} must be an integer from {low} to {high}")
    return int(text)


async def run_inputs(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    versions = await _repo(request).run_inputs(_m(request, "run_id"))
    chosen, after = pages.by_offset(versions, page)
    return pages.answer("versions", [v.to_json() for v in chosen], after)


async def run_outputs(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    versions = await _repo(request).run_outputs(_m(request, "run_id"))
    chosen, after = pages.by_offset(versions, page)
    return pages.answer("versions", [v.to_json() for v in chosen], after)


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_bytes(), content_type="application/json")


def create_app(
    repo: Repository,
    accounts: AccountStore,
    audit: AuditLog,
    *,
    timing: BodyTiming = DEFAULT_TIMING,
) -> web.Application:
    """The HTTP API over an opened repository, its accounts and audit log (the caller
    closes all three).

    ``timing``: how long a request body may stall, and how slowly it may arrive, before
    the request is answered 408. The app's body-parsing worker processes stop on cleanup.
    """
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=P.MAX_JSON_BODY
    )
    app[REPO] = repo
    app[ACCOUNTS] = accounts
    app[AUDIT] = audit
    app[RECENT_READS] = RecentPackReads()
    parser = app[PARSER] = BodyParser(timing)

    async def stop_parser(_: web.Application) -> None:
        await parser.close()

    app.on_cleanup.append(stop_parser)
    r = app.router
    r.add_get(P.OPENAPI_PATH, openapi)
    r.add_get(P.HEALTH, health)
    r.add_post(P.CHUNKS_MISSING, chunks_missing)
    r.add_post(P.CHUNKS_LOCATE, chunks_locate)
    r.add_post(P.PACKS, put_pack)
    r.add_post(P.PACK_URLS, pack_urls)
    r.add_post(P.PACKS_DIRECT, begin_direct_upload)
    r.add_post(P.PACKS_DIRECT_COMPLETE, complete_direct_upload)
    r.add_get(P.PACK, get_pack)
    r.add_get(P.PROJECTS, list_projects)
    r.add_get(P.COLLECTIONS, list_collections)
    r.add_get(P.VERSIONS, list_versions)
    r.add_post(P.VERSIONS, commit_version)
    r.add_get(P.VERSION, get_version)
    r.add_delete(P.VERSION, delete_version)
    r.add_delete(P.COLLECTION, delete_collection)
    r.add_get(P.MANIFEST, get_manifest)
    r.add_get(P.VERSION_CONSUMERS, version_consumers)
    r.add_get(P.VERSION_PRODUCERS, version_producers)
    r.add_post(P.RUNS, create_run)
    r.add_get(P.RUN, get_run)
    r.add_post(P.RUN_FINISH, finish_run)
    r.add_post(P.RUN_INPUTS, add_run_input)
    r.add_get(P.RUN_INPUTS, run_inputs)
    r.add_get(P.RUN_OUTPUTS, run_outputs)
    r.add_get(P.AUDIT, audit_log)
    add_web_routes(r)  # the web page's static files (asyncart/server/web/)
    return app


async def open_app(
    location: StoreLocation, *, timing: BodyTiming = DEFAULT_TIMING
) -> web.Application:
    """Open the store at ``location`` and build the app; the store closes on app cleanup.
    The repository, accounts and audit log share one :class:`Database` (one pool)."""
    database = Database(location.db)
    repo = await Repository.open(location, database=database)
    accounts, audit = AccountStore(database), AuditLog(database)
    try:
        await accounts.open()
        await audit.open()
    except BaseException:
        await audit.close()
        await accounts.close()
        await repo.close()
        raise
    app = create_app(repo, accounts, audit, timing=timing)

    async def close_repo(_: web.Application) -> None:
        await audit.close()
        await accounts.close()
        await repo.close()

    app.on_cleanup.append(close_repo)
    return app
