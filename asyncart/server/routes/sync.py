"""Routes ``asyncart sync`` reads and writes besides the usual ones (docs/protocol.md
§3.13): the caller's access on a project (asked before any byte moves) and where synced
versions came from (recorded per copied version, listed per collection).

``GET .../access`` answers any authenticated caller with a role on the project, and a
caller without one exactly as every other project route does (404, as for a project
that does not exist); recording an origin needs write access, listing read access.
"""

from __future__ import annotations

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.core.origins import VersionOrigin
from asyncart.repo.access import Role
from asyncart.server import pages
from asyncart.server.params import checked_name, json_body, path_param, scoped_repo
from asyncart.server.schemas import OriginBody


async def project_access(request: web.Request) -> web.Response:
    """The caller's role on the project, with read/write/admin spelt out."""
    found = scoped_repo(request).access(path_param(request, "project"))
    return web.json_response(found.to_json())


async def record_origin(request: web.Request) -> web.Response:
    """Record where a version came from; 201 when new, 200 when it was recorded already."""
    project, name = path_param(request, "project"), path_param(request, "name")
    ref = path_param(request, "ref")
    repo = scoped_repo(request)
    repo.require(project, Role.WRITE, "recording where a version came from")  # before the body
    body = await json_body(request, OriginBody)
    origin = VersionOrigin(
        source_store=body.source_store,
        source_project=checked_name(body.source_project, "project name"),
        source_name=checked_name(body.source_name, "artifact name"),
        source_index=body.source_index,
        source_digest=body.source_digest,
    )
    done, added = await repo.record_origin(project, name, ref, origin)
    return web.json_response(done.to_json(), status=201 if added else 200)


async def list_origins(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    found = await scoped_repo(request).list_origins(
        path_param(request, "project"), path_param(request, "name")
    )
    chosen, after = pages.by_offset(found, page)
    return pages.answer("origins", [o.to_json() for o in chosen], after)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the access and origin routes."""
    router.add_get(P.ACCESS, project_access)
    router.add_put(P.ORIGIN, record_origin)
    router.add_get(P.ORIGINS, list_origins)
