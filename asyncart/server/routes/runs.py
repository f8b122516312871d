"""Routes of runs: start one, read it, set its config, finish it, and record or list what it
used and made."""

from __future__ import annotations

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.repo.access import Role
from asyncart.server import pages
from asyncart.server.params import checked_name, json_body, path_param, scoped_repo
from asyncart.server.schemas import RunConfigBody, RunCreateBody, RunFinishBody, RunInputBody


async def create_run(request: web.Request) -> web.Response:
    repo = scoped_repo(request)
    repo.check_may_upload("start a run")  # the project is in the body: checked after it
    body = await json_body(request, RunCreateBody, P.MAX_RUN_BODY)
    run = await repo.create_run(
        project=body.project,
        job_type=body.job_type,
        name=body.name,
        config=body.config or {},
        run_id=body.id,
        group=body.group,
        tags=body.tags or [],
        notes=body.notes,
    )
    return web.json_response(run.to_json(), status=201)


async def get_run(request: web.Request) -> web.Response:
    run = await scoped_repo(request).get_run(path_param(request, "run_id"))
    return web.json_response(run.to_json())


async def finish_run(request: web.Request) -> web.Response:
    run_id = path_param(request, "run_id")
    repo = scoped_repo(request)
    await repo.require_run(run_id, Role.WRITE, "finishing a run")  # before the body
    status = (await json_body(request, RunFinishBody)).status or "finished"
    run = await repo.finish_run(run_id, status)
    return web.json_response(run.to_json())


async def set_run_config(request: web.Request) -> web.Response:
    run_id = path_param(request, "run_id")
    repo = scoped_repo(request)
    await repo.require_run(run_id, Role.WRITE, "changing a run's config")  # before the body
    body = await json_body(request, RunConfigBody, P.MAX_RUN_BODY)
    run = await repo.set_run_config(run_id, body.config)
    return web.json_response(run.to_json())


async def add_run_input(request: web.Request) -> web.Response:
    run_id = path_param(request, "run_id")
    repo = scoped_repo(request)
    await repo.require_run(run_id, Role.WRITE, "recording a run's input")  # before the body
    body = await json_body(request, RunInputBody)
    info = await repo.use_version(
        run_id,
        checked_name(body.project, "project name"),
        checked_name(body.name, "artifact name"),
        checked_name(body.ref, "version or alias"),
        None if body.type is None else checked_name(body.type, "type"),
    )
    return web.json_response(info.to_json())


async def run_inputs(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    versions = await scoped_repo(request).run_inputs(path_param(request, "run_id"))
    chosen, after = pages.by_offset(versions, page)
    return pages.answer("versions", [v.to_json() for v in chosen], after)


async def run_outputs(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    versions = await scoped_repo(request).run_outputs(path_param(request, "run_id"))
    chosen, after = pages.by_offset(versions, page)
    return pages.answer("versions", [v.to_json() for v in chosen], after)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the run routes."""
    router.add_post(P.RUNS, create_run)
    router.add_get(P.RUN, get_run)
    router.add_post(P.RUN_FINISH, finish_run)
    router.add_put(P.RUN_CONFIG, set_run_config)
    router.add_post(P.RUN_INPUTS, add_run_input)
    router.add_get(P.RUN_INPUTS, run_inputs)
    router.add_get(P.RUN_OUTPUTS, run_outputs)
