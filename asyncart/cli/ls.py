"""``asyncart ls [NAME[:VERSION|ALIAS]] [--type TYPE] [--sizes]``: collections of a
project, the versions of one artifact (with what each costs and, for versions
``asyncart sync`` copied, where each came from), or one version.

Sizes (``core/storage.py``): SIZE is logical, ADDED what logging the version added to the
store, FREES what deleting it and running gc would free now; with ``--sizes`` the same
per collection (STORED: its bytes after dedup), a project total and, when the project
has a quota (docs/quotas.md), the quota, its usage and what is left.
"""

from __future__ import annotations

import sys

import click

from asyncart import aio
from asyncart.cli.common import client_options, open_api, run_in_event_loop
from asyncart.cli.output import emit_json, version_info_json, with_iso_times
from asyncart.core.humanize import count, human_size, human_time
from asyncart.core.models import CollectionInfo, VersionInfo
from asyncart.core.names import parse_artifact_ref, validate_name
from asyncart.core.origins import VersionOrigin
from asyncart.core.storage import VersionCost
from asyncart.errors import NotFoundError
from asyncart.sdk.collections import collection_infos, collection_named

EXAMPLES = """\b
Examples:
  asyncart ls                          # the project's artifacts
  asyncart ls "bike dataset:production" --json   # sizes, bytes added and freeable
  asyncart ls --sizes                  # what each artifact and the project occupy
"""


@click.command(epilog=EXAMPLES)
@click.argument("name", required=False)
@click.option(
    "--sizes",
    is_flag=True,
    help="Without NAME: each collection's logical, stored, added and freeable bytes.",
)
@click.option(
    "--type",
    "-t",
    "type_name",
    default=None,
    help="Only collections of this artifact type (with NAME: NAME must be of it).",
)
@client_options
@run_in_event_loop
async def ls(
    name: str | None,
    sizes: bool,
    type_name: str | None,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """List artifact collections; with NAME the versions of NAME (aliases, logical size,
    bytes added when logged, bytes deleting it would free, files, date); with
    NAME:VERSION or NAME:ALIAS that version only."""
    if type_name is not None:
        validate_name(type_name, what="artifact type")
    async with open_api(url, project) as api:
        if name is None and sizes:
            await _sizes(api, type_name, json_output)
            return
        if name is None:
            cols = await collection_infos(api, api.default_project, type_name)
            if json_output:
                emit_json([with_iso_times(c.to_json()) for c in cols])
                return
            if not cols:
                of_type = f" of type {type_name!r}" if type_name else ""
                click.echo(f"no artifacts{of_type} in project {api.default_project!r}")
                return
            _table(("NAME", "TYPE", "VERSIONS", "UPDATED"), [_collection_row(c) for c in cols])
            return
        collection, _, ref = name.partition(":")
        if type_name is not None:  # ArtifactNotFound unless NAME is of that type
            await collection_named(api, api.default_project, type_name, collection)
        versions = await api.artifact_versions(collection)
        if ref:
            wanted = (await api.artifact(name)).version
            versions = [v for v in versions if v.version == wanted]
        costs = await _version_costs(api, name)
        origins: dict[int, list[VersionOrigin]] = {}
        for o in await api.origins(name):
            origins.setdefault(o.index, []).append(o)
    if json_output:
        emit_json(
            [
                {
                    **version_info_json(v),
                    **_cost_json(costs.get(v.index)),
                    "origins": [o.to_json() for o in origins.get(v.index, [])],
                }
                for v in versions
            ]
        )
        return
    header: tuple[str, ...] = ("VERSION", "ALIASES", "SIZE", "FILES", "ADDED", "FREES")
    header += ("CREATED", "DIGEST")
    rows: list[tuple[str, ...]] = [_version_row(v, costs.get(v.index)) for v in versions]
    if origins:  # synced versions: where each came from (asyncart sync)
        header += ("SYNCED FROM",)
        rows = [
            (*r, _origin_cell(origins.get(v.index, [])))
            for r, v in zip(rows, versions, strict=True)
        ]
    _table(header, rows)


def _origin_cell(found: list[VersionOrigin]) -> str:
    """``project/name:vN (store)`` for each source the version was synced from."""
    return "; ".join(f"{o.source_ref} ({o.source_store})" for o in found) or "-"


async def _sizes(api: aio.Api[aio.Artifact], type_name: str | None, json_output: bool) -> None:
    """``ls --sizes``: each collection's figures and the project's."""
    found = await api.storage()
    cols = [c for c in found.collections if type_name is None or c.type == type_name]
    if json_output:
        data = found.to_json()
        data["collections"] = [c.to_json() for c in cols]
        data["quota_bytes"], data["usage_bytes"] = found.quota_bytes, found.usage_bytes
        emit_json(data)
        return
    rows: list[tuple[str, ...]] = [
        (c.name, c.type, count(len(c.versions), "version"), human_size(c.size),
         human_size(c.stored_bytes), human_size(c.added_bytes), human_size(c.exclusive_bytes))
        for c in cols
    ]  # fmt: skip
    _table(("NAME", "TYPE", "VERSIONS", "SIZE", "STORED", "ADDED", "FREES"), rows)
    frees = "-" if found.exclusive_bytes is None else human_size(found.exclusive_bytes)
    click.echo(
        f"project {found.project!r}: {human_size(found.size)} logical, "
        f"{human_size(found.stored_bytes)} stored, deleting it all would free {frees}"
    )
    if found.quota_bytes is not None and found.usage_bytes is not None:
        click.echo(_quota_line(found.quota_bytes, found.usage_bytes))


def _quota_line(quota: int, usage: int) -> str:
    """``quota: 1.2 GiB of 2.0 GiB used (0.8 GiB left)``; a quota lowered below what the
    project already stores shows how far over it is."""
    left = (
        f"{human_size(quota - usage)} left"
        if usage <= quota
        else f"{human_size(usage - quota)} over"
    )
    return f"quota: {human_size(usage)} of {human_size(quota)} used ({left})"


async def _version_costs(api: aio.Api[aio.Artifact], name: str) -> dict[int, VersionCost]:
    """The costs of the versions of ``[project/]name[:ref]``, by index; none from a server
    older than the storage route (its columns then show ``-``)."""
    named = parse_artifact_ref(name)
    try:
        found = await api.storage(named.project)
        return {v.index: v for v in found.collection(named.name).versions}
    except (NotFoundError, KeyError):  # an older server; or deleted since it was listed
        return {}


def _cost_json(cost: VersionCost | None) -> dict[str, int | None]:
    if cost is None:
        return {"added_bytes": None, "exclusive_bytes": None}
    return {"added_bytes": cost.added_bytes, "exclusive_bytes": cost.exclusive_bytes}


def _collection_row(c: CollectionInfo) -> tuple[str, ...]:
    return (c.name, c.type, count(c.version_count, "version"), human_time(c.updated_at))


def _version_row(v: VersionInfo, cost: VersionCost | None) -> tuple[str, ...]:
    added = cost.added_bytes if cost else None
    return (
        v.version,
        ",".join(v.aliases) or "-",
        human_size(v.size),
        count(v.file_count, "file"),
        "-" if added is None else human_size(added),
        "-" if cost is None else human_size(cost.exclusive_bytes),
        human_time(v.created_at),
        v.digest[:12],
    )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Aligned columns under a header on a terminal; tab-separated rows for a pipe."""
    if not sys.stdout.isatty():
        for row in rows:
            click.echo("\t".join(row))
        return
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
