"""``asyncart ls [NAME[:VERSION|ALIAS]] [--type TYPE]``: collections of a project, the
versions of one artifact, or one version."""

from __future__ import annotations

import sys

import click

from asyncart.cli.common import client_options, open_api, run_in_event_loop
from asyncart.cli.output import emit_json, version_info_json, with_iso_times
from asyncart.core.humanize import count, human_size, human_time
from asyncart.core.models import CollectionInfo, VersionInfo
from asyncart.core.names import validate_name
from asyncart.sdk.collections import collection_infos, collection_named

EXAMPLES = """\b
Examples:
  asyncart ls                          # the project's artifacts
  asyncart ls "bike dataset"           # its versions, aliases, sizes
  asyncart ls "bike dataset:production" --json
"""

@click.command(epilog=EXAMPLES)
@click.argument("name", required=False)
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
    name: str | None, type_name: str | None, project: str | None, url: str | None, json_output: bool
) -> None:
    """List artifact collections; with NAME the versions of NAME (aliases, size, files,
    date); with NAME:VERSION or NAME:ALIAS that version only."""
    if type_name is not None:
        validate_name(type_name, what="artifact type")
    async with open_api(url, project) as api:
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
        if json_output:
            emit_json([version_info_json(v) for v in versions])
            return
        _table(
            ("VERSION", "ALIASES", "SIZE", "FILES", "CREATED", "DIGEST"),
            [_version_row(v) for v in versions],
        )


def _collection_row(c: CollectionInfo) -> tuple[str, ...]:
    return (c.name, c.type, count(c.version_count, "version"), human_time(c.updated_at))


def _version_row(v: VersionInfo) -> tuple[str, ...]:
    return (
        v.version,
        ",".join(v.aliases) or "-",
        human_size(v.size),
        count(v.file_count, "file"),
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
