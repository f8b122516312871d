"""Routes of retention policies (docs/retention.md): read one (read access), set or clear
one (admin access: a policy deletes versions, which only a project's admins may do).

Every answer is ``{"policy": {keep_last, max_age, keep_aliased} | null}``; DELETE
answers with the policy as it was.
"""

from __future__ import annotations

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.core.retention import RetentionPolicy
from asyncart.repo.access import Role
from asyncart.server.params import json_body, path_param, scoped_repo
from asyncart.server.schemas import RetentionBody


def _answer(policy: RetentionPolicy | None) -> web.Response:
    return web.json_response({"policy": None if policy is None else policy.to_json()})


def _path(request: web.Request) -> tuple[str, str]:
    return path_param(request, "project"), path_param(request, "name")


async def get_retention(request: web.Request) -> web.Response:
    return _answer(await scoped_repo(request).get_retention(*_path(request)))


async def set_retention(request: web.Request) -> web.Response:
    project, name = _path(request)
    repo = scoped_repo(request)
    repo.require(project, Role.ADMIN, "setting a retention policy")  # before the body
    body = await json_body(request, RetentionBody)
    policy = RetentionPolicy(body.keep_last, body.max_age, body.keep_aliased)
    return _answer(await repo.set_retention(project, name, policy))


async def clear_retention(request: web.Request) -> web.Response:
    return _answer(await scoped_repo(request).clear_retention(*_path(request)))


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the retention routes."""
    router.add_get(P.RETENTION, get_retention)
    router.add_put(P.RETENTION, set_retention)
    router.add_delete(P.RETENTION, clear_retention)
