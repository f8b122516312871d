"""Routes of links (W&B's ``artifact.link`` / ``unlink`` / ``linked_artifacts``).

A link into another project needs write access to that project and read access to the
source's (``ScopedRepository.link_version``); removing one needs write access to its
project; listing shows the links in projects the caller may read.
"""

from __future__ import annotations

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.repo.access import Role
from asyncart.server import pages
from asyncart.server.params import checked_name, json_body, path_param, scoped_repo
from asyncart.server.schemas import LinkBody


def _version_path(request: web.Request) -> tuple[str, str, str]:
    return path_param(request, "project"), path_param(request, "name"), path_param(request, "ref")


async def link_version(request: web.Request) -> web.Response:
    """Link a version into a collection; 201 with a new link, 200 with an existing one."""
    project, name, ref = _version_path(request)
    repo = scoped_repo(request)
    repo.require(project, Role.READ, "linking an artifact")  # before the body is read
    body = await json_body(request, LinkBody)
    target = (checked_name(body.project, "project name"), checked_name(body.name, "artifact name"))
    info = await repo.link_version(project, name, ref, target, list(body.aliases))
    return web.json_response(info.to_json(), status=201 if info.created else 200)


async def list_links(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    found = await scoped_repo(request).list_links(*_version_path(request))
    chosen, after = pages.by_offset(found, page)
    return pages.answer("versions", [v.to_json() for v in chosen], after)


async def unlink_version(request: web.Request) -> web.Response:
    """Remove a link; the answer is the link as it was."""
    info = await scoped_repo(request).unlink_version(*_version_path(request))
    return web.json_response(info.to_json())


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the link routes."""
    router.add_post(P.LINKS, link_version)
    router.add_get(P.LINKS, list_links)
    router.add_post(P.UNLINK, unlink_version)
