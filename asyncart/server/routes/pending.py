"""Routes of distributed versions being written (W&B's ``upsert_artifact`` /
``finish_artifact``): add one process's part, commit every part (docs/protocol.md §3.12).

Both take a commit body (§3.6) and ``?distributed_id=``; both need write access to the
project, as a commit does, and the body's run (if any) must be one the caller may write.
"""

from __future__ import annotations

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.core.run_labels import validate_distributed_id
from asyncart.errors import ConfigError
from asyncart.repo.access import Role
from asyncart.repo.prepared import PreparedCommit
from asyncart.server.keys import PARSER
from asyncart.server.params import checked_run_id, path_param, scoped_repo


def _distributed_id(request: web.Request) -> str:
    value = request.query.get("distributed_id")
    if value is None:
        raise ConfigError("query parameter 'distributed_id' is required")
    return validate_distributed_id(value)


async def _part(request: web.Request, doing: str) -> tuple[PreparedCommit, str]:
    project, name = path_param(request, "project"), path_param(request, "name")
    distributed_id = _distributed_id(request)
    scoped_repo(request).require(project, Role.WRITE, doing)  # before the body is read
    prepared = await request.app[PARSER].commit(request, project, name)
    checked_run_id(prepared.run_id)
    return prepared, distributed_id


async def upsert_pending(request: web.Request) -> web.Response:
    prepared, distributed_id = await _part(request, "adding to a distributed artifact")
    info = await scoped_repo(request).upsert_pending(prepared, distributed_id)
    return web.json_response(info.to_json())


async def finish_pending(request: web.Request) -> web.Response:
    prepared, distributed_id = await _part(request, "finishing a distributed artifact")
    token = request.query.get("token")  # checked by the repository
    info = await scoped_repo(request).finish_pending(prepared, distributed_id, token)
    return web.json_response(info.to_json(), status=201 if info.created else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the distributed-version routes."""
    router.add_post(P.PENDING, upsert_pending)
    router.add_post(P.PENDING_FINISH, finish_pending)
