"""Routes of what the store holds by name: projects, artifact collections (list, change,
delete), their versions (commit, read, change, delete), aliases, manifests, and which
runs consumed or produced a version.
"""

from __future__ import annotations

import json

from aiohttp import web
from msgspec import UNSET

from asyncart.core import protocol as P
from asyncart.core.models import CollectionChanges, VersionChanges
from asyncart.repo.access import Role
from asyncart.server import pages
from asyncart.server.keys import PARSER
from asyncart.server.params import (
    checked_name,
    checked_run_id,
    flag_query,
    int_query,
    json_body,
    path_param,
    scoped_repo,
    type_query,
)
from asyncart.server.schemas import AliasBody, CollectionPatchBody, VersionPatchBody


async def list_projects(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    chosen, after = pages.by_name(await scoped_repo(request).list_projects(), page, lambda p: p)
    return pages.answer("projects", list(chosen), after)


async def list_collections(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    cols = await scoped_repo(request).list_collections(path_param(request, "project"))
    chosen, after = pages.by_name(cols, page, lambda c: c.name)
    return pages.answer("collections", [c.to_json() for c in chosen], after)


async def project_storage(request: web.Request) -> web.Response:
    """Each version's size, bytes added when logged and bytes deleting it would free, per
    collection and for the project (``core/storage.py``); from the index, no pack read."""
    found = await scoped_repo(request).storage(path_param(request, "project"))
    return web.json_response(found.to_json())


async def project_quota(request: web.Request) -> web.Response:
    """The project's quota and usage; with ``?new_bytes=N``, 403 ``quota_exceeded`` if N
    more deduplicated bytes would not fit (a push's pre-flight; docs/quotas.md)."""
    new_bytes = int_query(request, "new_bytes", 0, 0, (1 << 63) - 1)
    repo = scoped_repo(request)
    found = await repo.quota_usage(path_param(request, "project"), new_bytes)
    return web.json_response(found.to_json())


async def list_versions(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    versions = await scoped_repo(request).list_versions(
        path_param(request, "project"),
        path_param(request, "name"),
        after=page.number(),
        limit=page.limit + 1,
    )
    chosen = versions[: page.limit]
    after = str(chosen[-1].index) if len(versions) > page.limit else None
    return pages.answer("versions", [v.to_json() for v in chosen], after)


async def commit_version(request: web.Request) -> web.Response:
    project, name = path_param(request, "project"), path_param(request, "name")
    repo = scoped_repo(request)
    repo.require(project, Role.WRITE, "pushing an artifact")  # before the body is read
    prepared = await request.app[PARSER].commit(request, project, name)
    checked_run_id(prepared.run_id)
    info = await repo.commit(prepared)
    return web.json_response(info.to_json(), status=201 if info.created else 200)


def _version_path(request: web.Request) -> tuple[str, str, str]:
    return path_param(request, "project"), path_param(request, "name"), path_param(request, "ref")


async def get_version(request: web.Request) -> web.Response:
    info = await scoped_repo(request).get_version(*_version_path(request), type_query(request))
    return web.json_response(info.to_json())


async def version_by_id(request: web.Request) -> web.Response:
    """The version whose ``artifact.id`` is in the path (a config's ``_id`` URI)."""
    info = await scoped_repo(request).version_by_id(path_param(request, "version_id"))
    return web.json_response(info.to_json())


async def update_version(request: web.Request) -> web.Response:
    """Change a version's description, metadata, ttl or tags (W&B's ``Artifact.save()``)."""
    project, name, ref = _version_path(request)
    repo = scoped_repo(request)
    repo.require(project, Role.WRITE, "changing a version")  # before the body is read
    body = await json_body(request, VersionPatchBody, P.MAX_PATCH_BODY)
    changes = VersionChanges(
        description=None if body.description is UNSET else body.description,
        set_description=body.description is not UNSET,
        metadata=None if body.metadata is UNSET else body.metadata,
        ttl=None if body.ttl is UNSET else body.ttl,
        set_ttl=body.ttl is not UNSET,
        tags_add=tuple(body.tags_add),
        tags_remove=tuple(body.tags_remove),
    )
    info = await repo.update_version(project, name, ref, changes)
    return web.json_response(info.to_json())


def _alias_path(request: web.Request) -> tuple[str, str, str]:
    return path_param(request, "project"), path_param(request, "name"), path_param(request, "alias")


async def set_alias(request: web.Request) -> web.Response:
    """Point an alias at a version (moving it from the one it named)."""
    project, name, alias = _alias_path(request)
    repo = scoped_repo(request)
    repo.require(project, Role.WRITE, "moving an alias")  # before the body is read
    body = await json_body(request, AliasBody)
    ref = checked_name(body.version, "version or alias")
    info = await repo.set_alias(project, name, alias, ref)
    return web.json_response(info.to_json())


async def remove_alias(request: web.Request) -> web.Response:
    """Remove an alias; the answer is the version it named."""
    info = await scoped_repo(request).remove_alias(*_alias_path(request))
    return web.json_response(info.to_json())


async def update_collection(request: web.Request) -> web.Response:
    """Rename, retype, describe or tag a collection (W&B's ``ArtifactCollection.save()``)."""
    project, name = path_param(request, "project"), path_param(request, "name")
    repo = scoped_repo(request)
    repo.require(project, Role.WRITE, "changing an artifact collection")  # before the body
    body = await json_body(request, CollectionPatchBody, P.MAX_PATCH_BODY)
    changes = CollectionChanges(
        name=None if body.name is UNSET else checked_name(body.name, "artifact name"),
        type=None if body.type is UNSET else checked_name(body.type, "artifact type"),
        description=None if body.description is UNSET else body.description,
        set_description=body.description is not UNSET,
        tags_add=tuple(body.tags_add),
        tags_remove=tuple(body.tags_remove),
    )
    info = await repo.update_collection(project, name, changes)
    return web.json_response(info.to_json())


async def delete_version(request: web.Request) -> web.Response:
    info = await scoped_repo(request).delete_version(
        *_version_path(request), delete_aliases=flag_query(request, P.DELETE_ALIASES_PARAM)
    )
    return web.json_response(info.to_json())


async def delete_collection(request: web.Request) -> web.Response:
    deleted = await scoped_repo(request).delete_collection(
        path_param(request, "project"),
        path_param(request, "name"),
        delete_aliases=flag_query(request, P.DELETE_ALIASES_PARAM),
    )
    return web.json_response({"versions": [v.to_json() for v in deleted]})


async def get_manifest(request: web.Request) -> web.Response:
    info, blob = await scoped_repo(request).get_manifest_blob(*_version_path(request))
    return web.Response(
        body=blob,
        content_type=P.MANIFEST_MEDIA_TYPE,
        headers={P.VERSION_INFO_HEADER: json.dumps({"digest": info.digest, "index": info.index})},
    )


async def version_consumers(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    runs = await scoped_repo(request).version_consumers(*_version_path(request))
    chosen, after = pages.by_offset(runs, page)
    return pages.answer("runs", [r.to_json() for r in chosen], after)


async def version_producers(request: web.Request) -> web.Response:
    page = pages.page_request(request)
    runs = await scoped_repo(request).version_producers(*_version_path(request))
    chosen, after = pages.by_offset(runs, page)
    return pages.answer("runs", [r.to_json() for r in chosen], after)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the project, collection and version routes."""
    router.add_get(P.PROJECTS, list_projects)
    router.add_get(P.COLLECTIONS, list_collections)
    router.add_get(P.STORAGE, project_storage)
    router.add_get(P.QUOTA, project_quota)
    router.add_get(P.VERSIONS, list_versions)
    router.add_post(P.VERSIONS, commit_version)
    router.add_get(P.VERSION, get_version)
    router.add_get(P.VERSION_BY_ID, version_by_id)
    router.add_patch(P.VERSION, update_version)
    router.add_delete(P.VERSION, delete_version)
    router.add_put(P.ALIAS, set_alias)
    router.add_delete(P.ALIAS, remove_alias)
    router.add_patch(P.COLLECTION, update_collection)
    router.add_delete(P.COLLECTION, delete_collection)
    router.add_get(P.MANIFEST, get_manifest)
    router.add_get(P.VERSION_CONSUMERS, version_consumers)
    router.add_get(P.VERSION_PRODUCERS, version_producers)
